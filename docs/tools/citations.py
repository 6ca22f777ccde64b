#!/usr/bin/env python3
"""Keeps the code's comments pointing at reel's own docs.

Comments once cited documents that are not in the repository: "catalogue #29", "spec §3.6",
"shared/spec/go-livepeer-node.md", the invariant labels "N1" and "C6". This script rewrites
each such citation into a pointer inside the repository (docs/faults.md#..., docs/
compatibility.md#...), keeping the sentence, and re-wraps a comment line that grew past 100
columns. The mapping is data, below: a citation names a heading of a docs page, and the
anchor is made from the heading the way GitHub makes it, so a renamed heading is caught.

    docs/tools/citations.py            rewrite in place; report what changed and what could
                                       not be mapped
    docs/tools/citations.py --dry-run  report only
    docs/tools/citations.py --check    exit 1 while a citation of an outside document
                                       remains, a label lacks its pointer, or a mapped
                                       heading is missing from the docs
    docs/tools/citations.py --check-docs
                                       exit 1 if the docs name a test that does not exist
                                       (in the file they name), a path that does not exist,
                                       or a link anchor that no heading makes

It is idempotent: a second run changes nothing. Run it from anywhere in the checkout; it
reads the files git tracks under crates/, contracts/, scripts/, README.md and x.
"""

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
WIDTH = 100
# Markdown paragraphs wrap a little shorter, as the README does.
WIDTH_MD = 92

# --------------------------------------------------------------------------------- mapping

FAULTS = "docs/faults.md"
COMPAT = "docs/compatibility.md"
ARCH = "docs/architecture.md"

# Fault case number (the old catalogue's numbering, kept by docs/faults.md) -> heading.
CASES = {
    1: "Replayed tickets and nonces",
    2: "Forged and malleable signatures",
    3: "Params the orchestrator did not issue",
    4: "Bytes moved between HMAC fields",
    5: "Expired ticket params",
    6: "Params with a zero or far expiration",
    7: "Tickets too old for the chain",
    8: "Sender unlocking",
    9: "Underfunded sender",
    10: "Segment without enough payment",
    11: "Malicious ticket params",
    12: "Winners are stored before credit",
    13: "Crash around a redemption broadcast",
    14: "Gas above the cap",
    15: "Gas spikes and a zero gas price",
    16: "Front-running, draining and dust griefing",
    17: "Third-party unlock cancels and forced delegation",
    18: "RPC outages and chain reorganisations",
    19: "Stuck redemptions",
    20: "Double reward and uninitialised rounds",
    21: "Oversized and endless bodies",
    22: "Bad segment metadata",
    23: "Segment URLs and SSRF",
    24: "Malformed media",
    25: "Poison streams",
    26: "Transcoder registration and disconnects",
    27: "Tampered renditions",
    28: "Floods and busy orchestrators",
    29: "Ticket store unavailable",
}

# Invariant labels -> heading in docs/faults.md; a range or list of labels points at the
# section heading of its letter.
LABELS = {
    "C1": "C1: single redemption",
    "C2": "C2: payout is the face value or nothing",
    "C3": "C3: reserve slices",
    "C4": "C4: ETH is conserved",
    "C5": "C5: funds leave only by tickets or withdrawal",
    "C6": "C6: one reward per round",
    "C7": "C7: stake adds up",
    "C8": "C8: consent",
    "C9": "C9: rounding",
    "N1": "N1: store before credit",
    "N2": "N2: every winner ends in one final state",
    "N3": "N3: one redemption in flight",
    "N4": "N4: reveal late",
    "N5": "N5: nonces are as durable as the secret",
    "N6": "N6: balances are exact",
    "N7": "N7: bounded exposure for the gateway",
    "N8": "N8: transaction nonces",
    "N9": "N9: recovery is idempotent",
}
LABEL_SECTIONS = {"C": "Contract invariants", "N": "Node money invariants"}

# Sections of the old node notes (go-livepeer) and protocol notes -> (page, heading).
NODE_SECTIONS = {
    "2.1": (COMPAT, "Protobuf messages and gRPC services"),
    "2.2": (COMPAT, "Capabilities"),
    "2.3": (COMPAT, "Signatures and auth tokens"),
    "2.4": (COMPAT, "Segment and payment requests"),
    "3.1": (COMPAT, "Tickets and the ticket hash"),
    "3.2": (COMPAT, "recipientRand is fixed-width and its secret persists"),
    "3.3": (COMPAT, "Face value and win probability"),
    "3.4": (COMPAT, "The gateway's checks of ticket params"),
    "3.5": (COMPAT, "Credit and balances"),
    "3.6": (COMPAT, "Ticket validation order"),
    "3.7": (COMPAT, "Max float and the sender watch"),
    "3.8": (COMPAT, "Redemption"),
    "4.1": (COMPAT, "Discovery"),
    "4.2": (COMPAT, "Discovery"),
    "4.3": (COMPAT, "Session pools and selection"),
    "4.4": (COMPAT, "Session pools and selection"),
    "4.5": (COMPAT, "Verification"),
    "5.2": (COMPAT, "Transcoding and profiles"),
    "5.4": (COMPAT, "Remote transcoders"),
    "8.1": (COMPAT, "Flags, config and ports"),
    "8.3": (COMPAT, "Metrics"),
}
PROTOCOL_SECTIONS = {
    "0": (COMPAT, "Reward and fee arithmetic"),
    "1": (COMPAT, "Registry and proxies"),
    "2.5": (COMPAT, "Reward and fee arithmetic"),
    "2.6": (COMPAT, "Reward and fee arithmetic"),
    "2.7": (COMPAT, "Reward and fee arithmetic"),
    "3": (COMPAT, "Reward and fee arithmetic"),
    "5": (COMPAT, "TicketBroker"),
    "5.5": (COMPAT, "Redemption checks"),
    "7": (COMPAT, "Protocol parameters"),
    "8.1": (COMPAT, "Gas"),
}
# A bare "§x.y" is the node notes' where they have it, else the protocol notes'.
NODE_BARE = {k for k in NODE_SECTIONS if k not in ("8.1",)}

# Mentions of the outside files themselves (without a section).
FILES = {
    "reliability-catalogue.md": (FAULTS, None),
    "go-livepeer-node.md": (COMPAT, None),
    "livepeer-protocol.md": (COMPAT, "Livepeer's contracts"),
    "ai-and-compute.md": (ARCH, "The job pipeline"),
    "TOOLCHAIN.md": (ARCH, "Choices and why"),
    "ARCHITECTURE.md": (ARCH, None),
}

# Phrases that cite the outside notes in words. Spaces match any run of whitespace, line
# breaks and comment markers included (see Block). {p:PAGE|Heading} becomes a pointer.
PHRASES = [
    (r"The payment cases of shared/spec/reliability-catalogue\.md",
     "The payment fault cases of {p:%s|Fault cases}" % FAULTS),
    (r"\(`cNN_…` = catalogue item NN\)", "(`cNN_…` = case NN there)"),
    (r"[Tt]he reliability catalogue's (\w+) cases \(((?:#\d+[–-]?)+(?:, (?:#\d+[–-]?)+)*)\)",
     lambda m, r: "The %s fault cases (%s in %s)" % (
         m.group(1), m.group(2).replace("#", ""), r.ptr(FAULTS, "Fault cases"))),
    (r"of the reliability catalogue", "in {p:%s|Contract invariants}" % FAULTS),
    (r"the field list in shared/spec/go-livepeer-node\.md §2\.1",
     "go-livepeer's field list ({p:%s|Protobuf messages and gRPC services})" % COMPAT),
    (r" as described in the spec notes", " (see {p:%s|Functions, events and revert strings})"
     % COMPAT),
    (r"named in the spec", "named in {p:%s|Fixed upstream bugs}" % COMPAT),
    (r"the spec's formulas", "the formulas of {p:%s|Reward and fee arithmetic}" % COMPAT),
    (r"follow the spec to the wei",
     "follow the formulas ({p:%s|Reward and fee arithmetic}) to the wei" % COMPAT),
    (r"the spec's rebuilt previous factor",
     "the rebuilt previous factor ({p:%s|Reward and fee arithmetic})" % COMPAT),
    (r"The worked example of the spec", "The worked example of {p:%s|Reward and fee arithmetic}"
     % COMPAT),
    (r"in the spec's setup", "in Livepeer's gas-report setup ({p:%s|Gas})" % COMPAT),
    (r"The spec's setup", "Livepeer's gas-report setup ({p:%s|Gas})" % COMPAT),
    (r"the C9 tolerance \(0\.001 LPT\)", "the tolerance of C9 (0.001 LPT, {p:%s|C9: rounding})"
     % FAULTS),
    (r"\(C9 asks for", "(C9, {p:%s|C9: rounding}, asks for" % FAULTS),
    (r"\bGL #(\d+)", r"go-livepeer #\1"),
    (r"\bC4 H-0(\d)", r"Code4rena 2023-08 H-0\1"),
]

# ------------------------------------------------------------------------------- anchors


def slug(heading):
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    s = heading.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def headings(page):
    path = os.path.join(ROOT, page)
    if not os.path.exists(path):
        return set()
    out = set()
    fence = False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            fence = not fence
        if not fence:
            m = re.match(r"#{1,6} (.*)", line)
            if m:
                out.add(slug(re.sub(r"`", "", m.group(1))))
    return out


def all_targets():
    """Every (page, heading) the mapping points at."""
    t = [(FAULTS, h) for h in CASES.values()]
    t += [(FAULTS, h) for h in LABELS.values()]
    t += [(FAULTS, h) for h in LABEL_SECTIONS.values()]
    t += list(NODE_SECTIONS.values()) + list(PROTOCOL_SECTIONS.values())
    t += [(p, h) for p, h in FILES.values() if h]
    t += [(FAULTS, "Fault cases"), (FAULTS, "Contract invariants")]
    for pat, rep in PHRASES:
        if isinstance(rep, str):
            t += [tuple(x.split("|")) for x in re.findall(r"\{p:([^}]*)\}", rep)]
    t += [(COMPAT, "Gas"), (COMPAT, "Fixed upstream bugs")]
    return sorted(set(t))


# --------------------------------------------------------------------------------- files


def tracked_files():
    out = subprocess.run(["git", "ls-files", "crates", "contracts", "scripts", "README.md",
                          "x"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    files = []
    for f in out.split():
        if "/artifacts/" in f or f.endswith((".json", ".lock", ".snap")):
            continue
        if comment_style(f) is not None:
            files.append(f)
    return files


def comment_style(path):
    name = os.path.basename(path)
    if path.endswith((".rs", ".sol", ".proto", ".mjs", ".js")):
        return "slash"
    if path.endswith(".md"):
        return "markdown"
    if path.endswith((".sh", ".toml")) or name in ("x", "solc"):
        return "hash"
    return None


@dataclass
class Block:
    """Consecutive comment lines with the same indentation and marker (or, in Markdown, a
    paragraph). `texts` are the lines after the marker."""
    start: int
    prefix: str
    texts: list
    markdown: bool = False


def blocks(lines, style):
    out = []
    cur = None
    for i, line in enumerate(lines):
        if style == "markdown":
            if line.strip() == "" or line.startswith(("```", "|", "#")):
                cur = None
                continue
            if cur is None:
                cur = Block(i, "", [], markdown=True)
                out.append(cur)
            cur.texts.append(line)
            continue
        if style == "slash":
            m = re.match(r"^(\s*)(//!|///|//)(.*)$", line)
        else:
            m = re.match(r"^(\s*)(#)(?!!)(.*)$", line)
        if not m:
            cur = None
            continue
        prefix = m.group(1) + m.group(2)
        if cur is None or cur.prefix != prefix or cur.start + len(cur.texts) != i:
            cur = Block(i, prefix, [])
            out.append(cur)
        cur.texts.append(m.group(3))
    return out


# ---------------------------------------------------------------------------- rewriting

CAT_ITEM = r"#\d+(?:\s*[–-]\s*#?\d+)?"
CATALOGUE = re.compile(
    r"(?P<rel>reliability\s+)?(?P<cap>[Cc])atalogue\s+(?:item\s+)?"
    r"(?P<list>%s(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+)%s)*)(?P<tests>\s+tests)?" % (CAT_ITEM, CAT_ITEM))
SEC_ITEM = r"§?\d+(?:\.\d+)?(?:\s*[–-]\s*§?\d+(?:\.\d+)?)?"
SECTION = re.compile(
    r"(?:(?:spec\s+)?(?:(?:\.\./)?shared/spec/)?(?P<doc>livepeer-protocol|go-livepeer-node|"
    r"ai-and-compute)\.md\s+|spec\s+)?(?P<list>§\d+(?:\.\d+)?(?:\s*[–-]\s*§?\d+(?:\.\d+)?)?"
    r"(?:\s*,\s*%s)*)" % SEC_ITEM)
FILE = re.compile(r"(?:\.\./)?shared/(?:spec/)?(?P<name>[\w.-]+\.md)|(?<![\w/])(?P<bare>"
                  r"(?:reliability-catalogue|go-livepeer-node|livepeer-protocol|ai-and-compute)"
                  r"\.md)")
# One letter per list: "C6, C7 and C9", "N2–N4"; "C6 and N2" are two lists.
LABEL = re.compile(r"(?<![\w#/-])(?P<list>(?P<k>[CN])[1-9](?:\s*[–-]\s*(?P=k)?[1-9])?"
                   r"(?:(?:\s*,\s*(?:and\s+)?|\s+and\s+|/)(?P=k)[1-9](?:\s*[–-]\s*(?P=k)?[1-9])?)*)"
                   r"(?![\w-])")
CASE_AT_START = re.compile(r"^(?P<lead>\s*)#(?P<n>\d+)(?:\s+\((?P<inner>[^()]*)\))?(?=[\s:])")
DIVIDER = re.compile(r"^(?P<head>\s*//\s*---\s+)(?P<cites>(?:#\d+|[CN][1-9](?:[–-][CN]?[1-9])?)"
                     r"(?:\s*(?:,|/)\s*(?:#\d+|[CN][1-9](?:[–-][CN]?[1-9])?))*)\s*[:/]?\s*"
                     r"(?P<words>.*?)\s*(?P<dashes>-{3,})\s*$")

# Citations of outside documents that must not survive (checked everywhere in a file), and
# wordings that only count inside comments.
OUTSIDE = [
    (re.compile(r"[Cc]atalogue\s+(?:item\s+)?#"), "catalogue item"),
    (re.compile(r"§"), "section sign"),
    (re.compile(r"(?:\.\./)?shared/(?:spec/)?[\w.-]+\.md|\.\./shared\b"), "shared notes"),
    (re.compile(r"(?:reliability-catalogue|go-livepeer-node|livepeer-protocol|ai-and-compute|"
                r"ai-models)\.md"), "notes file"),
    (re.compile(r"reliability\s+catalogue"), "reliability catalogue"),
    (re.compile(r"\bGL #\d"), "GL abbreviation"),
    (re.compile(r"\bC4 H-0\d"), "C4 abbreviation"),
]
COMMENT_ONLY = [
    (re.compile(r"\bspec(?:'s)?\b(?! allows)"), "the spec"),
]


def expand_numbers(text):
    """'#14–#18, #20' or '14-16' -> [14, 15, 16, 20]."""
    nums = []
    for part in re.split(r"\s*(?:,|\band\b)\s*", text):
        part = part.strip().lstrip("#")
        if not part:
            continue
        m = re.match(r"(\d+)\s*[–-]\s*#?(\d+)$", part)
        if m:
            nums.extend(range(int(m.group(1)), int(m.group(2)) + 1))
        elif part.isdigit():
            nums.append(int(part))
    return nums


def expand_sections(text):
    """'§2.5–§2.7, §3' -> ['2.5', '2.6', '2.7', '3']."""
    out = []
    for part in re.split(r"\s*,\s*", text):
        part = part.replace("§", "").strip()
        m = re.match(r"(\d+)(?:\.(\d+))?\s*[–-]\s*(\d+)(?:\.(\d+))?$", part)
        if m and m.group(2) and m.group(4) and m.group(1) == m.group(3):
            out += ["%s.%d" % (m.group(1), k) for k in range(int(m.group(2)), int(m.group(4)) + 1)]
        elif m:
            out += [m.group(1) + ("." + m.group(2) if m.group(2) else ""),
                    m.group(3) + ("." + m.group(4) if m.group(4) else "")]
        elif part:
            out.append(part)
    return out


@dataclass
class Rewriter:
    path: str
    markdown: bool
    file_text: str = ""
    changes: list = field(default_factory=list)
    unmapped: list = field(default_factory=list)

    def ptr(self, page, heading=None):
        anchor = "#" + slug(heading) if heading else ""
        if self.markdown:
            words = (heading or os.path.basename(page)).lower()
            return "[%s](%s%s)" % (words, page, anchor)
        return page + anchor

    def ptrs(self, targets):
        """Several pointers: the page is named once per run of the same page."""
        out, last = [], None
        for page, heading in targets:
            if self.markdown or page != last or not heading:
                out.append(self.ptr(page, heading))
            else:
                out.append("#" + slug(heading))
            last = page
        return ", ".join(out)

    # -- targets of each kind of citation
    def case_targets(self, text):
        t = []
        for n in expand_numbers(text):
            if n not in CASES:
                self.unmapped.append("case #%d" % n)
                return None
            if (FAULTS, CASES[n]) not in t:
                t.append((FAULTS, CASES[n]))
        return t

    def section_targets(self, doc, text):
        t = []
        for s in expand_sections(text):
            if doc == "livepeer-protocol":
                table = PROTOCOL_SECTIONS
            elif doc == "go-livepeer-node":
                table = NODE_SECTIONS
            else:
                table = NODE_SECTIONS if s in NODE_BARE else PROTOCOL_SECTIONS
            if s not in table:
                self.unmapped.append("§%s%s" % (s, " of %s.md" % doc if doc else ""))
                return None
            if table[s] not in t:
                t.append(table[s])
        return t

    def label_targets(self, text):
        labels = re.findall(r"[CN][1-9]", text)
        ranged = re.search(r"[–-]", text) is not None
        if len(labels) == 1 and not ranged:
            return [(FAULTS, LABELS[labels[0]])]
        return [(FAULTS, LABEL_SECTIONS[labels[0][0]])]

    def label_pointed(self, text, context=None):
        """Whether the file already points at a label's heading (or its section)."""
        context = self.file_text if context is None else context
        heads = {slug(h) for _, h in self.label_targets(text)}
        heads.add(slug(LABEL_SECTIONS[text.strip()[0]]))
        return any(re.search(r"#%s(?![\w-])" % re.escape(h), context) for h in heads)

    # -- one block
    def rewrite(self, text):
        """Rewrites the citations in a block's joined text. Citations become placeholders
        \x00i\x00 first, so that a parenthesis holding nothing else can be told apart."""
        slots = []

        def slot(targets, kind, original, extra=None):
            slots.append((targets, kind, original, extra))
            return "\x00%d\x00" % (len(slots) - 1)

        # phrases first: they carry their own wording
        for pat, rep in PHRASES:
            regex = re.compile(pat.replace(" ", r"\s+"))
            if callable(rep):
                text = regex.sub(lambda m: rep(m, self), text)
            else:
                text = regex.sub(lambda m: self.expand_phrase(m, rep), text)

        def cat(m):
            t = self.case_targets(m.group("list"))
            if t is None:
                return m.group(0)
            kind = "tests" if m.group("tests") else ("cap" if m.group("cap") == "C" and
                                                     not m.group("rel") else "inline")
            return slot(t, kind, m.group(0))

        text = CATALOGUE.sub(cat, text)

        def sec(m):
            t = self.section_targets(m.group("doc"), m.group("list"))
            return m.group(0) if t is None else slot(t, "inline", m.group(0))

        text = SECTION.sub(sec, text)

        def fil(m):
            name = m.group("name") or m.group("bare")
            if name not in FILES:
                self.unmapped.append(name)
                return m.group(0)
            page, heading = FILES[name]
            return slot([(page, heading)], "inline", m.group(0))

        text = FILE.sub(fil, text)

        def lab(m):
            return slot(self.label_targets(m.group("list")), "label", m.group("list"))

        if not self.markdown:
            text = LABEL.sub(lab, text)
        return self.render(text, slots)

    def expand_phrase(self, m, rep):
        out = m.expand(re.sub(r"\{p:([^|}]*)\|([^}]*)\}", lambda p: self.ptr(p.group(1),
                                                                               p.group(2)), rep))
        return out

    def render(self, text, slots):
        if not slots:
            return text
        # a parenthesis holding only citations: "(see a, b)"; labels in it point one by one
        only = re.compile(r"\((?:\s*\x00\d+\x00\s*(?:,|;|\band\b)?)+\s*\)")

        def group(m):
            ids = [int(i) for i in re.findall(r"\x00(\d+)\x00", m.group(0))]
            if len(ids) == 1 and slots[ids[0]][1] == "tests":
                return "(tests of %s)" % self.ptrs(slots[ids[0]][0])
            targets = []
            for i in ids:
                targets_i, kind, original, _ = slots[i]
                if kind == "label":
                    targets_i = self.each_label(original)
                for t in targets_i:
                    if t not in targets:
                        targets.append(t)
            return "(see %s)" % self.ptrs(targets)

        text = only.sub(group, text)

        # every other citation but labels
        def other(m):
            targets, kind, original, _ = slots[int(m.group(1))]
            if kind == "label":
                return m.group(0)
            if kind == "cap":
                words = targets[0][1]
                return "%s (see %s)" % (words[0].upper() + words[1:], self.ptrs(targets))
            if kind == "tests":
                return "tests of %s" % self.ptrs(targets)
            return self.ptrs(targets)

        text = re.sub(r"\x00(\d+)\x00", other, text)

        # labels last, in order, each seeing the pointers made so far
        while True:
            m = re.search(r"\x00(\d+)\x00", text)
            if not m:
                return text
            targets, _, original, _ = slots[int(m.group(1))]
            before = text[:m.start()]
            context = self.file_text + "\n" + re.sub(r"\x00(\d+)\x00", "", text)
            if self.label_pointed(original, context):
                rep = original
            else:
                single = len(re.findall(r"[CN][1-9]", original)) == 1 and not re.search(
                    r"[–-]", original)
                if before.count("(") > before.count(")"):
                    rep = self.ptrs(targets) if single else "%s in %s" % (
                        original, self.ptrs(targets))
                else:
                    rep = "%s (see %s)" % (original, self.ptrs(targets))
            text = text[:m.start()] + rep + text[m.end():]

    def each_label(self, text):
        """'C1, C2, C3' or 'N2–N4' -> the heading of each label."""
        out = []
        for a, b in re.findall(r"([CN][1-9])(?:\s*[–-]\s*[CN]?([1-9]))?", text):
            hi = int(b) if b else int(a[1])
            for k in range(int(a[1]), hi + 1):
                out.append((FAULTS, LABELS["%s%d" % (a[0], k)]))
        return out

    def case_at_start(self, first):
        m = CASE_AT_START.match(first)
        if not m:
            return first
        t = self.case_targets(m.group("n"))
        if t is None:
            return first
        words = t[0][1]
        inner = m.group("inner")
        inner = re.sub(r"\bGL #(\d+)", r"go-livepeer #\1", inner) if inner else None
        p = "see " + self.ptrs(t) + ("; " + inner if inner else "")
        return "%s%s (%s)%s" % (m.group("lead"), words[0].upper() + words[1:], p,
                                first[m.end():])

    def divider(self, line):
        m = DIVIDER.match(line)
        if not m:
            return None
        cites = re.split(r"\s*(?:,|/)\s*", m.group("cites"))
        cases = [c.lstrip("#") for c in cites if c.startswith("#")]
        for c in cases:
            if int(c) not in CASES:
                self.unmapped.append("case #%s" % c)
                return None
        labels = [c for c in cites if not c.startswith("#")]
        what = []
        if cases:
            what.append(("case " if len(cases) == 1 else "cases ") + ", ".join(cases))
        if labels:
            what.append(", ".join(labels))
        body = "%s (%s %s) " % (m.group("words"), FAULTS, "; ".join(what))
        head = m.group("head")
        total = max(len(line), len(head) + len(body) + 3)
        total = min(max(total, len(head) + len(body) + 3), max(WIDTH, len(head) + len(body) + 3))
        return head + body + "-" * max(3, total - len(head) - len(body))

    def block(self, b):
        """The block's new lines, or None when nothing changed."""
        texts = list(b.texts)
        # dividers of test files: `// --- #12, #13, N1–N4: the durable queue ---`
        if not b.markdown and b.prefix.strip() == "//":
            changed = False
            for i, t in enumerate(texts):
                d = self.divider(b.prefix + t)
                if d is not None:
                    texts[i] = d[len(b.prefix):]
                    changed = True
            if changed and len(texts) == 1:
                return [b.prefix + texts[0]]
        if not b.markdown:
            texts[0] = self.case_at_start(texts[0])
        joined = "\n".join(texts)
        new = self.rewrite(joined)
        if new == "\n".join(b.texts):
            return None
        return reflow(b, new.split("\n"), b.texts)


def reflow(b, texts, old):
    """Puts the prefix back and wraps lines that grew past WIDTH: the words that overflow
    move to the start of the next line of the same paragraph, or to a new line."""
    width = WIDTH_MD if b.markdown else WIDTH
    lines = [b.prefix + t for t in texts]
    changed = set(i for i, t in enumerate(texts) if i >= len(old) or t != old[i])
    i = 0
    while i < len(lines):
        line = lines[i]
        if len(line) <= width or i not in changed or line.lstrip(" /#!").startswith("|"):
            i += 1
            continue
        # a run of dashes (a divider) shrinks first
        m = re.search(r"-{4,}", line)
        if m:
            cut = min(len(line) - width, len(m.group(0)) - 3)
            if cut > 0:
                line = line[:m.start()] + "-" * (len(m.group(0)) - cut) + line[m.end():]
                lines[i] = line
                if len(line) <= width:
                    continue
        body = line[len(b.prefix):]
        indent = re.match(r"\s*", body).group(0)
        lm = re.match(r"(\s*)([-*]|\d+\.)\s", body)
        hang = indent + (" " * (len(lm.group(2)) + 1) if lm else "")
        split = best_split(line, len(b.prefix) + len(indent) + (len(lm.group(0)) - len(indent)
                                                                if lm else 0), width)
        if split is None:
            i += 1
            continue
        head, tail = line[:split].rstrip(), line[split:].strip()
        lines[i] = head
        nxt = lines[i + 1][len(b.prefix):] if i + 1 < len(lines) else None
        # Markdown keeps its other lines as they are: the overflow gets a line of its own.
        if nxt is not None and not b.markdown and continues(nxt, hang):
            lines[i + 1] = b.prefix + hang + tail + " " + nxt.strip()
        else:
            lines.insert(i + 1, b.prefix + hang + tail)
            changed = {c + 1 if c > i else c for c in changed}
        changed.add(i + 1)
        i += 1
    return lines


def best_split(line, floor, width):
    """Index of the last space at or before `width` outside backticks, past `floor`."""
    ticks = 0
    best = None
    for k, ch in enumerate(line):
        if ch == "`":
            ticks += 1
        if ch == " " and ticks % 2 == 0 and floor < k <= width:
            best = k
    return best


def continues(body, hang):
    """Whether a following line is the same paragraph (so overflow can join it)."""
    if body.strip() == "":
        return False
    s = body.lstrip()
    if s.startswith(("- ", "* ", "```", "|", "#")) or re.match(r"\d+\. ", s):
        return False
    return re.match(r"\s*", body).group(0) == hang


# ------------------------------------------------------------------------------- checking


def comment_spans(lines, style):
    """(line number, text) of every comment line (or Markdown line)."""
    for b in blocks(lines, style):
        for k, t in enumerate(b.texts):
            yield b.start + k, t


def check_file(path, text, label_rw):
    problems = []
    lines = text.split("\n")
    style = comment_style(path)
    for n, line in enumerate(lines):
        for rx, what in OUTSIDE:
            if rx.search(line):
                problems.append("%s:%d: %s: %s" % (path, n + 1, what, line.strip()[:90]))
    for n, t in comment_spans(lines, style):
        for rx, what in COMMENT_ONLY:
            if rx.search(t):
                problems.append("%s:%d: %s: %s" % (path, n + 1, what, t.strip()[:90]))
        if style != "markdown":
            if re.match(r"^\s*#\d+\b", t) or DIVIDER.match("//" + t):
                problems.append("%s:%d: case number: %s" % (path, n + 1, t.strip()[:90]))
            for m in LABEL.finditer(t):
                if not label_rw.label_pointed(m.group("list")):
                    problems.append("%s:%d: label %s without a pointer in the file" % (
                        path, n + 1, m.group("list")))
    return problems


# Identifiers the docs name that look like tests but are not (functions and settings).
NOT_TESTS = {"max_price_per_capability", "segment_fee_estimate", "max_nonces_per_session",
             # scenario fields of `reel sim` (docs/simulator.md)
             "price_per_unit_wei", "max_price_per_pixel_wei", "ladder_pixels_per_second",
             "rtt_same_region_ms", "rtt_cross_region_ms", "price_per_fuel_wei",
             "price_per_pixel_wei"}


def rust_tests(src):
    """Names of the test functions in Rust source: after a `#[…test…]` attribute, or inside a
    `proptest!` block."""
    names = []
    attr = False
    depth = None
    for line in src.split("\n"):
        t = line.strip()
        if depth is None and "proptest!" in t:
            depth = 0
        if depth is not None:
            depth += t.count("{") - t.count("}")
            m = re.match(r"(?:pub\s+)?(?:async\s+)?fn\s+(\w+)", t)
            if m:
                names.append(m.group(1))
            if depth <= 0 and "}" in t:
                depth = None
            continue
        if re.match(r"#\[(?:[\w:]+::)?test\b", t):
            attr = True
            continue
        if attr:
            m = re.match(r"(?:pub\s+)?(?:async\s+)?fn\s+(\w+)", t)
            if m:
                names.append(m.group(1))
                attr = False
            elif not t.startswith(("#[", "//")):
                attr = False
    return names


def check_docs():
    """The docs' own references: tests, paths and anchors."""
    problems = []
    tests = {}
    for f in subprocess.run(["git", "ls-files", "crates", "contracts"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split():
        if f.endswith(".rs") or (f.endswith(".sol") and f.startswith("contracts/test")):
            src = open(os.path.join(ROOT, f), encoding="utf-8").read()
            names = rust_tests(src) if f.endswith(".rs") else re.findall(
                r"\bfunction\s+((?:test|invariant)\w*)\s*\(", src)
            for nm in names:
                tests.setdefault(nm, set()).add(f)
    testish = re.compile(r"^(?:c\d\d_|n\d_|test_|testFuzz_|invariant_)\w+$|^[a-z][a-z0-9]*(?:_[a-z0-9]+){3,}$")
    docs_dir = os.path.join(ROOT, "docs")
    pages = sorted(p for p in os.listdir(docs_dir) if p.endswith(".md"))
    anchors = {p: headings("docs/" + p) for p in pages}
    for p in pages:
        rel = "docs/" + p
        text = open(os.path.join(docs_dir, p), encoding="utf-8").read()
        text_nofence = re.sub(r"```.*?```", "", text, flags=re.S)
        # tests named in a "`a`, `b` — `file`" list must be in that file
        for seg in re.finditer(r"((?:`[^`]+`[^`—\n]*?)+?)\s+—\s+`([^`]+)`", text_nofence):
            names, fpath = seg.group(1), seg.group(2)
            for nm in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", names):
                if not testish.match(nm):
                    continue
                where = tests.get(nm)
                if not where:
                    problems.append("%s: no test `%s`" % (rel, nm))
                elif fpath.startswith(("crates/", "contracts/")) and fpath not in where:
                    problems.append("%s: `%s` is not in %s (it is in %s)" % (
                        rel, nm, fpath, ", ".join(sorted(where))))
        for nm in set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", text_nofence)):
            if testish.match(nm) and nm not in tests and nm not in NOT_TESTS and \
                    not nm.startswith(("livepeer_", "reel_")):
                problems.append("%s: no test `%s`" % (rel, nm))
        for nm, fpath in re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)` in `([^`]+)`", text_nofence):
            if nm in tests and fpath.startswith(("crates/", "contracts/")) and \
                    fpath not in tests[nm]:
                problems.append("%s: `%s` is not in %s" % (rel, nm, fpath))
        for fpath in re.findall(r"`((?:crates|contracts|docs|scripts)/[^`*…]+?)`", text_nofence):
            fpath, _, anchor = fpath.partition("#")
            if anchor and anchor not in headings(fpath):
                problems.append("%s: no anchor %s#%s" % (rel, fpath, anchor))
            if not os.path.exists(os.path.join(ROOT, fpath.rstrip("/"))):
                problems.append("%s: no path %s" % (rel, fpath))
        for target in re.findall(r"\]\(([^)\s]+)\)", text_nofence):
            if target.startswith(("http://", "https://")):
                continue
            page, _, anchor = target.partition("#")
            page = page or p
            if page not in anchors:
                if not os.path.exists(os.path.join(docs_dir, page)):
                    problems.append("%s: link to missing %s" % (rel, page))
                continue
            if anchor and anchor not in anchors[page]:
                problems.append("%s: link to missing anchor %s#%s" % (rel, page, anchor))
    return problems


# ------------------------------------------------------------------------------------ main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="report and fail, change nothing")
    ap.add_argument("--dry-run", action="store_true", help="report what would change")
    ap.add_argument("--check-docs", action="store_true", help="check the docs' references")
    ap.add_argument("paths", nargs="*", help="only these files (default: all in scope)")
    args = ap.parse_args()

    if args.check_docs:
        problems = check_docs()
        for p in problems:
            print(p)
        print("docs: %d problem(s)" % len(problems))
        return 1 if problems else 0

    missing = []
    for page, heading in all_targets():
        if slug(heading) not in headings(page):
            missing.append("%s has no heading `%s` (#%s)" % (page, heading, slug(heading)))

    files = args.paths or tracked_files()
    changed_files = 0
    rewrites = 0
    unmapped = []
    problems = []
    for path in files:
        full = os.path.join(ROOT, path)
        text = open(full, encoding="utf-8").read()
        style = comment_style(path)
        rw = Rewriter(path, style == "markdown", file_text=text)
        if args.check:
            problems += check_file(path, text, rw)
            continue
        lines = text.split("\n")
        out = list(lines)
        offset = 0
        for b in blocks(lines, style):
            at = b.start + offset
            rw.file_text = "\n".join(out)
            new = rw.block(b)
            if new is None:
                continue
            out[at:at + len(b.texts)] = new
            offset += len(new) - len(b.texts)
            rewrites += 1
            rw.changes.append((at + 1, lines[b.start:b.start + len(b.texts)], new))
        unmapped += ["%s: %s" % (path, u) for u in rw.unmapped]
        if rw.changes:
            changed_files += 1
            for start, old, new in sorted(rw.changes):
                print("%s:%d" % (path, start))
                for line in old:
                    print("  - " + line.strip())
                for line in new:
                    print("  + " + line.strip())
            if not args.dry_run:
                with open(full, "w", encoding="utf-8") as f:
                    f.write("\n".join(out))
        before = set(lines)
        for n, line in enumerate(out):
            if len(line) > WIDTH and line not in before and style == "slash":
                problems.append("%s:%d: %d columns" % (path, n + 1, len(line)))
    for m in missing:
        print("mapping: " + m)
    if args.check:
        for p in problems:
            print(p)
        print("citations: %d problem(s) left%s" % (
            len(problems) + len(missing), "" if not missing else " (mapping incomplete)"))
        return 1 if problems or missing else 0
    for u in sorted(set(unmapped)):
        print("could not map: " + u)
    for p in problems:
        print("too long after rewrite: " + p)
    print("%s %d comment block(s) in %d file(s); %d citation(s) could not be mapped" % (
        "would rewrite" if args.dry_run else "rewrote", rewrites, changed_files,
        len(set(unmapped))))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
