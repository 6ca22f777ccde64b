//! The two system calls the kit needs beyond `ip(8)`: opening a TUN device inside a
//! namespace, and moving a thread into one.

#![allow(unsafe_code)]

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;

use nix::sched::{CloneFlags, setns};

/// `TUNSETIFF`, `_IOW('T', 202, int)` in `linux/if_tun.h`.
const TUNSETIFF: u64 = 0x4004_54ca;
const IFF_TUN: i16 = 0x0001;
const IFF_NO_PI: i16 = 0x1000;

/// `struct ifreq` as far as `TUNSETIFF` reads it: the name, then the flags.
#[repr(C)]
struct IfReq {
    name: [u8; 16],
    flags: i16,
    _pad: [u8; 22],
}

/// Moves the calling thread into the network namespace at `ns` (`/run/netns/NAME`): the
/// sockets it opens from then on belong to that namespace, and so do children it forks.
pub(crate) fn enter(ns: &File) -> io::Result<()> {
    setns(ns.as_fd(), CloneFlags::CLONE_NEWNET).map_err(io::Error::from)
}

/// Opens a TUN device named `name` (no packet information header: each read is one IP
/// packet) inside the namespace at `ns_path`. The device lives as long as the file.
pub(crate) fn open_in(ns_path: &Path, name: &str) -> io::Result<File> {
    let ns = File::open(ns_path)?;
    let name = name.to_owned();
    // A thread of its own: entering a namespace is for good, and this one ends here.
    std::thread::spawn(move || {
        enter(&ns)?;
        open_tun(&name)
    })
    .join()
    .map_err(|_| io::Error::other("the thread opening the TUN device panicked"))?
}

fn open_tun(name: &str) -> io::Result<File> {
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/net/tun")?;
    let mut req = IfReq {
        name: [0; 16],
        flags: IFF_TUN | IFF_NO_PI,
        _pad: [0; 22],
    };
    let bytes = name.as_bytes();
    if bytes.len() >= req.name.len() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("interface name {name:?} is longer than 15 bytes"),
        ));
    }
    req.name[..bytes.len()].copy_from_slice(bytes);
    // SAFETY: TUNSETIFF reads a `struct ifreq` (40 bytes on Linux; `IfReq` has that layout
    // and size) through the pointer, which is valid for the call; the fd is open.
    let rc = unsafe {
        nix::libc::ioctl(
            file.as_raw_fd(),
            TUNSETIFF as _,
            std::ptr::from_mut(&mut req),
        )
    };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    #[test]
    fn ifreq_has_the_kernel_size() {
        assert_eq!(std::mem::size_of::<super::IfReq>(), 40);
    }
}
