//! Batched UDP system calls: `recvmmsg` into a per-thread set of slots, `sendmmsg` of several
//! datagrams to one connected socket.
//!
//! By hand over libc: tokio has no batched UDP calls, and quinn-udp sends one destination's
//! equal-sized segments (GSO) rather than a batch of arbitrary datagrams to a connected socket.

use std::cell::RefCell;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

/// Datagrams per system call.
pub const SLOTS: usize = 32;
/// Room in front of each datagram, for a Simple Proxy Protocol header.
pub const HEADROOM: usize = crate::spp::HEADER_LEN;
/// One slot holds the largest UDP payload after the headroom.
const SLOT: usize = HEADROOM + 65_535;

/// Received datagrams: slot `i` holds `HEADROOM` free bytes, then `len[i]` bytes from `from[i]`.
pub struct Slots {
    data: Box<[u8]>,
    pub len: [usize; SLOTS],
    pub from: [Option<SocketAddr>; SLOTS],
}

impl Slots {
    fn new() -> Slots {
        // Only the pages datagrams are written to become resident.
        Slots {
            data: vec![0; SLOTS * SLOT].into_boxed_slice(),
            len: [0; SLOTS],
            from: [None; SLOTS],
        }
    }

    /// Slot `i`: the headroom followed by its datagram.
    pub fn slot(&mut self, i: usize) -> &mut [u8] {
        &mut self.data[i * SLOT..i * SLOT + HEADROOM + self.len[i]]
    }

    /// Slot `i` from byte `skip` on (`HEADROOM`: the datagram alone; 0: with the header room).
    pub fn datagram(&self, i: usize, skip: usize) -> &[u8] {
        &self.data[i * SLOT + skip..i * SLOT + HEADROOM + self.len[i]]
    }
}

thread_local! {
    static SLOTS_BUF: RefCell<Slots> = RefCell::new(Slots::new());
}

/// Runs `f` with this thread's receive slots. `f` must not call this again.
pub fn with_slots<R>(f: impl FnOnce(&mut Slots) -> R) -> R {
    SLOTS_BUF.with(|s| f(&mut s.borrow_mut()))
}

/// Receives up to `SLOTS` datagrams without blocking; returns how many.
pub fn recv(socket: &impl AsRawFd, slots: &mut Slots) -> io::Result<usize> {
    let fd: RawFd = socket.as_raw_fd();
    // SAFETY: every pointer handed to recvmmsg points into `slots` or into the arrays below,
    // all alive and not otherwise borrowed for the length of the call; lengths match buffers.
    unsafe {
        let mut names: [libc::sockaddr_storage; SLOTS] = zeroed();
        let mut iovecs: [libc::iovec; SLOTS] = zeroed();
        let mut headers: [libc::mmsghdr; SLOTS] = zeroed();
        let base = slots.data.as_mut_ptr();
        for i in 0..SLOTS {
            iovecs[i].iov_base = base.add(i * SLOT + HEADROOM).cast();
            iovecs[i].iov_len = SLOT - HEADROOM;
            let h = &mut headers[i].msg_hdr;
            h.msg_name = (&mut names[i] as *mut libc::sockaddr_storage).cast();
            h.msg_namelen = size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            h.msg_iov = &mut iovecs[i];
            h.msg_iovlen = 1;
        }
        let n = libc::recvmmsg(
            fd,
            headers.as_mut_ptr(),
            SLOTS as libc::c_uint,
            libc::MSG_DONTWAIT,
            std::ptr::null_mut(),
        );
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = n as usize;
        for i in 0..n {
            slots.len[i] = headers[i].msg_len as usize;
            slots.from[i] = socket_addr(&names[i]);
        }
        Ok(n)
    }
}

/// The address in a `sockaddr_storage` the kernel filled in.
fn socket_addr(storage: &libc::sockaddr_storage) -> Option<SocketAddr> {
    // SAFETY: the family field says which of the two layouts the storage holds.
    unsafe {
        match i32::from(storage.ss_family) {
            libc::AF_INET => {
                let a = &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>();
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::from((ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 => {
                let a = &*(storage as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>();
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(a.sin6_port),
                    a.sin6_flowinfo,
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// Sends `datagrams` on a connected socket in as few calls as it takes; returns how many went.
/// A full socket buffer ends the batch early (the rest are dropped, as the network would).
pub fn send(socket: &impl AsRawFd, datagrams: &[&[u8]]) -> io::Result<usize> {
    send_with(socket, None, datagrams)
}

/// Like [`send`], every datagram to `to`, on an unconnected socket.
pub fn send_to(socket: &impl AsRawFd, to: SocketAddr, datagrams: &[&[u8]]) -> io::Result<usize> {
    send_with(socket, Some(&socket2::SockAddr::from(to)), datagrams)
}

fn send_with(
    socket: &impl AsRawFd,
    to: Option<&socket2::SockAddr>,
    datagrams: &[&[u8]],
) -> io::Result<usize> {
    let fd: RawFd = socket.as_raw_fd();
    let mut sent = 0;
    while sent < datagrams.len() {
        let batch = &datagrams[sent..datagrams.len().min(sent + SLOTS)];
        // SAFETY: the iovecs point into `batch`'s slices and the name into `to`, all alive and
        // unchanged for the call.
        let n = unsafe {
            let mut iovecs: [libc::iovec; SLOTS] = zeroed();
            let mut headers: [libc::mmsghdr; SLOTS] = zeroed();
            for (i, d) in batch.iter().enumerate() {
                iovecs[i].iov_base = d.as_ptr() as *mut libc::c_void;
                iovecs[i].iov_len = d.len();
                headers[i].msg_hdr.msg_iov = &mut iovecs[i];
                headers[i].msg_hdr.msg_iovlen = 1;
                if let Some(to) = to {
                    headers[i].msg_hdr.msg_name = to.as_ptr() as *mut libc::c_void;
                    headers[i].msg_hdr.msg_namelen = to.len();
                }
            }
            libc::sendmmsg(
                fd,
                headers.as_mut_ptr(),
                batch.len() as libc::c_uint,
                libc::MSG_DONTWAIT,
            )
        };
        if n < 0 {
            let error = io::Error::last_os_error();
            return if sent > 0 && error.kind() == io::ErrorKind::WouldBlock {
                Ok(sent)
            } else {
                Err(error)
            };
        }
        sent += n as usize;
        if (n as usize) < batch.len() {
            break;
        }
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_goes_out_and_comes_back_with_its_sources() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.connect(rx.local_addr().unwrap()).unwrap();
        let big = vec![7u8; 60_000];
        let datagrams: Vec<&[u8]> = vec![b"one", b"two", &big, b"four"];
        assert_eq!(send(&tx, &datagrams).unwrap(), 4);
        std::thread::sleep(std::time::Duration::from_millis(20));
        with_slots(|slots| {
            let n = recv(&rx, slots).unwrap();
            assert_eq!(n, 4);
            for (i, d) in datagrams.iter().enumerate() {
                assert_eq!(&slots.slot(i)[HEADROOM..], *d);
                assert_eq!(slots.from[i], Some(tx.local_addr().unwrap()));
            }
            assert_eq!(
                recv(&rx, slots).unwrap_err().kind(),
                io::ErrorKind::WouldBlock
            );
        });
    }
}
