/* Three workloads for reel's compute tests and benchmark (crates/reel-testkit/src/compute.rs
 * builds them), built both to WebAssembly
 * (clang --target=wasm32-wasi) and natively (cc -O2), so each result and each run time can
 * be compared with the same C.
 *
 *   workloads hash        FNV-1a 64 of stdin, printed as 16 hex digits
 *   workloads blur W H    3x3 box blur of a W x H 8-bit grey image on stdin, to stdout
 *   workloads sieve N     the number of primes below N, and the last one
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *read_all(size_t *len) {
    size_t cap = 1 << 16, n = 0;
    unsigned char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            cap *= 2;
            unsigned char *b = realloc(buf, cap);
            if (!b) { free(buf); return NULL; }
            buf = b;
        }
        size_t r = fread(buf + n, 1, cap - n, stdin);
        if (r == 0) break;
        n += r;
    }
    *len = n;
    return buf;
}

static int hash(void) {
    size_t len;
    unsigned char *in = read_all(&len);
    if (!in) return 2;
    uint64_t h = 0xcbf29ce484222325ULL;
    for (size_t i = 0; i < len; i++) {
        h ^= in[i];
        h *= 0x100000001b3ULL;
    }
    printf("%016llx\n", (unsigned long long)h);
    free(in);
    return 0;
}

static int blur(int w, int h) {
    size_t len;
    unsigned char *in = read_all(&len);
    if (!in || w <= 0 || h <= 0 || len != (size_t)w * (size_t)h) {
        fprintf(stderr, "blur: want %d x %d bytes, got %zu\n", w, h, in ? len : 0);
        return 2;
    }
    unsigned char *out = malloc(len);
    if (!out) return 2;
    for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
            unsigned sum = 0, count = 0;
            for (int dy = -1; dy <= 1; dy++) {
                for (int dx = -1; dx <= 1; dx++) {
                    int yy = y + dy, xx = x + dx;
                    if (yy < 0 || yy >= h || xx < 0 || xx >= w) continue;
                    sum += in[(size_t)yy * w + xx];
                    count++;
                }
            }
            out[(size_t)y * w + x] = (unsigned char)(sum / count);
        }
    }
    fwrite(out, 1, len, stdout);
    free(in);
    free(out);
    return 0;
}

/* 64-bit counters: on wasm32 `long` is 32 bits, and i * i overflows past 46,340. */
static int sieve(int64_t n) {
    if (n < 2) { printf("0 0\n"); return 0; }
    unsigned char *composite = calloc((size_t)n, 1);
    if (!composite) return 2;
    int64_t count = 0, last = 0;
    for (int64_t i = 2; i < n; i++) {
        if (composite[i]) continue;
        count++;
        last = i;
        for (int64_t j = i * i; j < n; j += i) composite[j] = 1;
    }
    printf("%lld %lld\n", (long long)count, (long long)last);
    free(composite);
    return 0;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "hash") == 0) return hash();
    if (argc >= 4 && strcmp(argv[1], "blur") == 0) return blur(atoi(argv[2]), atoi(argv[3]));
    if (argc >= 3 && strcmp(argv[1], "sieve") == 0) return sieve(atoll(argv[2]));
    fprintf(stderr, "usage: workloads hash | blur W H | sieve N\n");
    return 64;
}
