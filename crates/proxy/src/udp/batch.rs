//! Batched UDP system calls: `recvmmsg` into a per-thread set of slots, `sendmmsg` of several
//! datagrams to one destination, with runs of equal-sized datagrams sent as one GSO message.
//!
//! By hand over libc: tokio has no batched UDP calls, and quinn-udp sends one GSO message per
//! call rather than a batch of arbitrary datagrams mixing GSO runs and single datagrams.

use std::cell::RefCell;
use std::io;
use std::mem::{size_of, zeroed};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::os::fd::{AsRawFd, RawFd};

/// Datagrams per system call.
pub const SLOTS: usize = 32;
/// Room in front of each datagram, for a Simple Proxy Protocol header.
pub const HEADROOM: usize = crate::wire::spp::HEADER_LEN;
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

/// Most segments one GSO send carries (the kernel's `UDP_MAX_SEGMENTS` is 64 or more).
const GSO_MAX_SEGMENTS: usize = 64;
/// Most payload bytes one GSO send carries: what fits one IPv4 UDP datagram.
const GSO_MAX_BYTES: usize = 65_507;

/// Splits `datagrams` into GSO messages: runs of equal-sized datagrams (the last of a run may
/// be shorter), within the kernel's limits. Returns each message's datagram count.
fn gso_runs(datagrams: &[&[u8]], counts: &mut [usize; SLOTS]) -> usize {
    let mut messages = 0;
    let mut i = 0;
    while i < datagrams.len() {
        let size = datagrams[i].len();
        let mut end = i + 1;
        let mut bytes = size;
        // A run only continues after a full-size segment; a shorter one is its last.
        while size > 0
            && end < datagrams.len()
            && datagrams[end - 1].len() == size
            && datagrams[end].len() <= size
            && !datagrams[end].is_empty()
            && end - i < GSO_MAX_SEGMENTS
            && bytes + datagrams[end].len() <= GSO_MAX_BYTES
        {
            bytes += datagrams[end].len();
            end += 1;
        }
        counts[messages] = end - i;
        messages += 1;
        i = end;
    }
    messages
}

/// Room for one `UDP_SEGMENT` control message (a `u16`), 8-byte aligned.
#[derive(Clone, Copy)]
#[repr(C, align(8))]
struct SegmentCmsg([u8; 32]);

/// One `sendmmsg` of up to `SLOTS` datagrams; with `gso`, runs of equal-sized datagrams go as
/// one message each, segmented by the kernel (`UDP_SEGMENT`): one pass down the stack for the
/// run instead of one per datagram. Returns the datagrams sent, or the call's error.
fn send_batch(
    fd: RawFd,
    to: Option<&socket2::SockAddr>,
    batch: &[&[u8]],
    gso: bool,
) -> io::Result<usize> {
    let mut counts = [1usize; SLOTS];
    let messages = if gso {
        gso_runs(batch, &mut counts)
    } else {
        batch.len()
    };
    // SAFETY: the iovecs point into `batch`'s slices, the names into `to` and the control
    // messages into `cmsgs`, all alive and unchanged for the call; every length matches.
    let n = unsafe {
        let mut iovecs: [libc::iovec; SLOTS] = zeroed();
        let mut headers: [libc::mmsghdr; SLOTS] = zeroed();
        let mut cmsgs = [SegmentCmsg([0; 32]); SLOTS];
        for (i, d) in batch.iter().enumerate() {
            iovecs[i].iov_base = d.as_ptr() as *mut libc::c_void;
            iovecs[i].iov_len = d.len();
        }
        let mut first = 0;
        for m in 0..messages {
            let h = &mut headers[m].msg_hdr;
            h.msg_iov = &mut iovecs[first];
            h.msg_iovlen = counts[m];
            if let Some(to) = to {
                h.msg_name = to.as_ptr() as *mut libc::c_void;
                h.msg_namelen = to.len();
            }
            if counts[m] > 1 {
                let space = libc::CMSG_SPACE(size_of::<u16>() as u32) as usize;
                h.msg_control = cmsgs[m].0.as_mut_ptr().cast();
                h.msg_controllen = space;
                let c = libc::CMSG_FIRSTHDR(h);
                (*c).cmsg_level = libc::SOL_UDP;
                (*c).cmsg_type = libc::UDP_SEGMENT;
                (*c).cmsg_len = libc::CMSG_LEN(size_of::<u16>() as u32) as usize;
                std::ptr::write_unaligned(
                    libc::CMSG_DATA(c).cast::<u16>(),
                    batch[first].len() as u16,
                );
            }
            first += counts[m];
        }
        libc::sendmmsg(
            fd,
            headers.as_mut_ptr(),
            messages as libc::c_uint,
            libc::MSG_DONTWAIT,
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(counts[..n as usize].iter().sum())
}

fn send_with(
    socket: &impl AsRawFd,
    to: Option<&socket2::SockAddr>,
    datagrams: &[&[u8]],
) -> io::Result<usize> {
    let fd: RawFd = socket.as_raw_fd();
    let mut sent = 0;
    let mut gso = true;
    while sent < datagrams.len() {
        let batch = &datagrams[sent..datagrams.len().min(sent + SLOTS)];
        match send_batch(fd, to, batch, gso) {
            Ok(n) => {
                sent += n;
                if n < batch.len() {
                    if !gso || n == 0 {
                        // The socket buffer is full: the rest are dropped, as the network would.
                        break;
                    }
                    // The buffer is full (the next call says so) or a GSO message was
                    // refused: go on one datagram at a time.
                    gso = false;
                }
            }
            // EIO: the route cannot offload UDP segmentation; EINVAL: a segment is larger
            // than the path MTU (a plain send fragments it). Send them one by one.
            Err(e) if gso && matches!(e.raw_os_error(), Some(libc::EIO | libc::EINVAL)) => {
                gso = false;
            }
            Err(e) if sent > 0 && e.kind() == io::ErrorKind::WouldBlock => return Ok(sent),
            Err(e) => return Err(e),
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

    #[test]
    fn equal_sized_runs_become_gso_messages_within_the_limits() {
        let sizes = |lens: &[usize]| -> Vec<usize> {
            let bufs: Vec<Vec<u8>> = lens.iter().map(|&n| vec![0; n]).collect();
            let datagrams: Vec<&[u8]> = bufs.iter().map(Vec::as_slice).collect();
            let mut counts = [0; SLOTS];
            let n = gso_runs(&datagrams, &mut counts);
            counts[..n].to_vec()
        };
        // A shorter datagram ends a run; a zero-length one is never part of one.
        assert_eq!(
            sizes(&[100, 100, 100, 50, 100, 7, 7, 0, 3]),
            [4, 2, 1, 1, 1]
        );
        assert_eq!(sizes(&[5, 9, 9]), [1, 2]);
        // 65,507 bytes at most per message: 21 x 3000, then the other 11.
        assert_eq!(sizes(&[3000; 32]), [21, 11]);
        assert_eq!(sizes(&[]), Vec::<usize>::new());
    }

    #[test]
    fn gso_runs_arrive_as_the_datagrams_they_were() {
        let rx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        let lens = [
            1200, 1200, 1200, 1200, 1200, 600, 1200, 1200, 1200, 64, 64, 1, 0, 9000,
        ];
        let bufs: Vec<Vec<u8>> = lens
            .iter()
            .enumerate()
            .map(|(i, &n)| (0..n).map(|b| (i * 31 + b) as u8).collect())
            .collect();
        let datagrams: Vec<&[u8]> = bufs.iter().map(Vec::as_slice).collect();
        assert_eq!(
            send_to(&tx, rx.local_addr().unwrap(), &datagrams).unwrap(),
            lens.len()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
        with_slots(|slots| {
            let n = recv(&rx, slots).unwrap();
            assert_eq!(n, lens.len());
            for (i, d) in datagrams.iter().enumerate() {
                assert_eq!(&slots.slot(i)[HEADROOM..], *d, "datagram {i}");
            }
        });
    }
}
