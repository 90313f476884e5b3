/* udpflows: udpblast with many flows. Sends fixed-size UDP datagrams from FLOWS sockets,
 * round-robin, BURST datagrams per socket per sendmmsg, for SECONDS, flat out or paced at PPS
 * in all. Built against the shared harness's common.h (bench/run copies it).
 *   udpflows -p PORT [-a ADDR] [-f FLOWS] [-b BURST] [-s BYTES] [-t SECONDS] [-r PPS]
 * Prints one JSON object with what was handed to the kernel. */
#include "common.h"
#include <sys/uio.h>

#define MAXB 64

int main(int argc, char **argv) {
    const char *addr = "127.0.0.1";
    int port = 0, size = 64, flows = 64, burst = 8, opt;
    double secs = 3, rate = 0;
    while ((opt = getopt(argc, argv, "a:p:f:b:s:t:r:")) != -1) {
        switch (opt) {
        case 'a': addr = optarg; break;
        case 'p': port = atoi(optarg); break;
        case 'f': flows = atoi(optarg); break;
        case 'b': burst = atoi(optarg); break;
        case 's': size = atoi(optarg); break;
        case 't': secs = atof(optarg); break;
        case 'r': rate = atof(optarg); break;
        default: fprintf(stderr, "see source for usage\n"); return 2;
        }
    }
    if (!port || size < 8 || size > 65000 || flows < 1 || burst < 1 || burst > MAXB) {
        fprintf(stderr, "udpflows: bad args\n");
        return 2;
    }
    struct sockaddr_in sa = make_addr(addr, port);
    int *fds = calloc((size_t)flows, sizeof(int));
    for (int f = 0; f < flows; f++) {
        fds[f] = socket(AF_INET, SOCK_DGRAM, 0);
        int sb = 1 << 20;
        setsockopt(fds[f], SOL_SOCKET, SO_SNDBUF, &sb, sizeof sb);
        if (connect(fds[f], (struct sockaddr *)&sa, sizeof sa) < 0) die("connect");
    }
    static char bufs[MAXB][65536];
    struct mmsghdr msgs[MAXB];
    struct iovec iov[MAXB];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < MAXB; i++) {
        memset(bufs[i], 'u', (size_t)size);
        iov[i].iov_base = bufs[i];
        iov[i].iov_len = (size_t)size;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long sent = 0, errors = 0;
    uint64_t seq = 0, t0 = now_ns(), end = t0 + (uint64_t)(secs * 1e9), now = t0;
    int next = 0;
    while ((now = now_ns()) < end) {
        int batch = burst;
        if (rate > 0) {
            long due = (long)((double)(now - t0) / 1e9 * rate) + 1;
            long lag = due - sent;
            if (lag <= 0) {
                struct timespec ts = {0, 20000};
                nanosleep(&ts, NULL);
                continue;
            }
            if (lag < batch) batch = (int)lag;
        }
        for (int i = 0; i < batch; i++) memcpy(bufs[i], &(uint64_t){seq + (uint64_t)i}, 8);
        int r = sendmmsg(fds[next], msgs, (unsigned)batch, 0);
        if (r > 0) { sent += r; seq += (uint64_t)r; }
        else errors++;
        next = (next + 1) % flows;
    }
    double el = (double)(now_ns() - t0) / 1e9;
    printf("{\"sent\":%ld,\"send_errors\":%ld,\"secs\":%.3f,\"offered_pps\":%.0f,\"size\":%d,\"flows\":%d}\n",
           sent, errors, el, sent / el, size, flows);
    return 0;
}
