/* SPDX-License-Identifier: ISC */
/* The Windows Sockets code table (all 53 codes of the source list) and the
 * data tables that map Linux errno, getaddrinfo EAI_* and DNS outcomes onto
 * it; every look-up, forward or reverse, reads the same rows. */
#include "wsa.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/util.h>

#include "util.h"

/* Codes used by the mapping rows below that wsa.h does not name. Identical
 * redefinitions are harmless if wsa.h gains them later. */
#define WSAEFAULT             10014
#define WSAEWOULDBLOCK        10035
#define WSAEINPROGRESS        10036
#define WSAEALREADY           10037
#define WSAENOTSOCK           10038
#define WSAEDESTADDRREQ       10039
#define WSAEPROTOTYPE         10041
#define WSAENOPROTOOPT        10042
#define WSAEPROTONOSUPPORT    10043
#define WSAESOCKTNOSUPPORT    10044
#define WSAEOPNOTSUPP         10045
#define WSAEPFNOSUPPORT       10046
#define WSAENETRESET          10052
#define WSAEISCONN            10056
#define WSAENOTCONN           10057
#define WSAESHUTDOWN          10058
#define WSAEHOSTDOWN          10064
#define WSATYPE_NOT_FOUND     10109
#define WSA_NOT_ENOUGH_MEMORY 8

const struct wsa_code wsa_table[] = {
    {10004, "WSAEINTR", "Interrupted function call.",
     "A system call was interrupted by a signal before it finished (errno EINTR; the "
     "getaddrinfo_a code EAI_INTR lands here too). netdiagd restarts its own calls, so a stored "
     "10004 points at a signal storm (reload loops, a misbehaving supervisor) or a bug. Check the "
     "journal for SIGHUP reloads around those times and `systemctl status netdiagd`.",
     false},
    {10013, "WSAEACCES", "Permission denied.",
     "The kernel or a security policy refused the operation (EACCES or EPERM). On Linux the usual "
     "causes are a netfilter rule dropping or rejecting locally generated packets (connect and "
     "send then fail with EPERM), sending to a broadcast address without SO_BROADCAST, binding a "
     "`source` port below 1024 without CAP_NET_BIND_SERVICE, or an SELinux/AppArmor denial. Check "
     "the output chain in `nft list ruleset`, the capabilities of the hardened unit, and the audit "
     "log or `journalctl -k` for denials.",
     false},
    {10014, "WSAEFAULT", "Bad address.",
     "The kernel was handed an invalid pointer or a buffer too short for the result (EFAULT; "
     "getnameinfo's EAI_OVERFLOW is filed here as well). In netdiagd this is a programming error, "
     "never a network condition. Report it with the target's configuration and the raw value of "
     "the failure row.",
     false},
    {10022, "WSAEINVAL", "Invalid argument.",
     "The kernel or the resolver rejected an argument (EINVAL, or EAI_BADFLAGS from getaddrinfo). "
     "Usually the target combines settings that do not fit, such as a `source` address of the "
     "other family than the destination or an IPv6 link-local address without a scope (%eth0). "
     "Run `netdiagd -t` and compare the target's host, source and family.",
     false},
    {10024, "WSAEMFILE", "Too many open files.",
     "netdiagd or the whole system ran out of file descriptors (EMFILE for the process limit, "
     "ENFILE for the system-wide table). Every probe holds a socket while it runs, so many targets "
     "with long timeouts can reach a low limit, and so can a descriptor leak. Compare `ls "
     "/proc/$(pidof netdiagd)/fd | wc -l` with `systemctl show netdiagd -p LimitNOFILE`, and look "
     "at /proc/sys/fs/file-nr.",
     false},
    {10035, "WSAEWOULDBLOCK", "Resource temporarily unavailable.",
     "A non-blocking call could not complete now (EAGAIN, also spelled EWOULDBLOCK). netdiagd "
     "waits for readiness through libevent, so this rarely reaches the history; when it does it is "
     "usually a UDP send whose socket buffer was full, or a connect() the kernel could not set up "
     "at that moment. Check for bursts of probes to the same target and the socket buffer sysctls "
     "(net.core.wmem_default, net.core.wmem_max).",
     false},
    {10036, "WSAEINPROGRESS", "Operation now in progress.",
     "The operation has started but not finished (EINPROGRESS). That is the normal first answer "
     "of a non-blocking connect(), which netdiagd treats as 'wait', so a stored 10036 means a "
     "probe was classified before its connect completed: a netdiagd bug worth reporting with "
     "the target's section and the debug log.",
     false},
    {10037, "WSAEALREADY", "Operation already in progress.",
     "A second connect() was issued on a socket that is still connecting (EALREADY). netdiagd "
     "starts exactly one connect per probe socket, so this points at the probe state machine, not "
     "at the network. Report it with the target name and the surrounding debug log.",
     false},
    {10038, "WSAENOTSOCK", "Socket operation on nonsocket.",
     "The descriptor used was not a socket, or no longer a valid descriptor at all (ENOTSOCK, "
     "EBADF). In netdiagd that means a socket was closed while a probe still used it, for example "
     "around a reload; it is a bug, not a network problem. Note the time, look for a SIGHUP in the "
     "journal at that moment, and report it.",
     false},
    {10039, "WSAEDESTADDRREQ", "Destination address required.",
     "A datagram was sent without a destination (EDESTADDRREQ). The send probe always addresses "
     "or connects its UDP socket before writing, so this indicates a netdiagd bug. Report it "
     "together with the target's `kind = send` section.",
     false},
    {10040, "WSAEMSGSIZE", "Message too long.",
     "The datagram is too large to be sent in one piece (EMSGSIZE): a UDP payload above 65507 "
     "bytes, or larger than the path MTU the kernel has learned from an ICMP 'fragmentation "
     "needed'. Compare the target's payload size with the MTU in `ip link` and `ip route get "
     "ADDR` (a cached lower mtu shows there), and look for tunnels or VPNs on the path.",
     false},
    {10041, "WSAEPROTOTYPE", "Protocol wrong type for socket.",
     "The protocol requested does not fit the socket type (EPROTOTYPE), such as TCP on a datagram "
     "socket. netdiagd derives type and protocol from `kind` and `protocol` itself, so this is a "
     "bug or a very unusual kernel. Check the target's `protocol =` value and report it.",
     false},
    {10042, "WSAENOPROTOOPT", "Bad protocol option.",
     "Either a socket option is unknown to the kernel (ENOPROTOOPT from setsockopt), or, more "
     "interesting, the destination host answered with ICMP 'protocol unreachable', which Linux "
     "reports on the socket with the same errno. For a TCP or UDP probe the ICMP case means the "
     "peer's stack or a filter in front of it rejects the protocol as a whole. Capture with "
     "`tcpdump -n icmp` while the probe runs, and check `uname -r` for the setsockopt case.",
     false},
    {10043, "WSAEPROTONOSUPPORT", "Protocol not supported.",
     "The kernel does not provide the protocol asked for (EPROTONOSUPPORT). netdiagd only opens "
     "TCP and UDP sockets, which every Linux kernel has, so seeing it means a stripped kernel or a "
     "sandbox that hides protocols. Check /proc/net/protocols and any seccomp or container "
     "restrictions on the service.",
     false},
    {10044, "WSAESOCKTNOSUPPORT", "Socket type not supported.",
     "The socket type is not supported in this address family (ESOCKTNOSUPPORT), or getaddrinfo "
     "rejected the socket type in its hints (EAI_SOCKTYPE). netdiagd only asks for stream and "
     "datagram sockets, so this is unexpected and points at a bug or an unusual libc or kernel. "
     "Report it with the target's kind and family.",
     false},
    {10045, "WSAEOPNOTSUPP", "Operation not supported.",
     "The operation is not supported on this kind of socket (EOPNOTSUPP, same value as ENOTSUP), "
     "or a router reported ICMP 'source route failed', which Linux turns into the same errno. In "
     "netdiagd it usually points at a mismatch between probe kind and protocol. Check the "
     "target's `kind` and `protocol`, and report it if the configuration is sane.",
     false},
    {10046, "WSAEPFNOSUPPORT", "Protocol family not supported.",
     "The protocol family itself is not available (EPFNOSUPPORT). Linux rarely returns it; when "
     "it does, support for that family is not built into or loaded in the kernel. Check "
     "/proc/net/protocols and the kernel configuration; for IPv6 problems see WSAEAFNOSUPPORT.",
     false},
    {10047, "WSAEAFNOSUPPORT", "Address family not supported by protocol family.",
     "The address family cannot be used (EAFNOSUPPORT), or getaddrinfo was asked for a family it "
     "cannot serve (EAI_FAMILY). Most often IPv6 is switched off in the kernel (`ipv6.disable=1`) "
     "or blocked by the unit's RestrictAddressFamilies= while the target needs it, or an address "
     "of one family was used on a socket of the other. Check /proc/cmdline, `systemctl show "
     "netdiagd -p RestrictAddressFamilies`, and the target's `family` and `source`.",
     false},
    {10048, "WSAEADDRINUSE", "Address already in use.",
     "The local address and port are already taken (EADDRINUSE). For netdiagd this happens when "
     "a target's `source` includes a fixed port that another socket, or the previous probe's "
     "connection in TIME_WAIT, still holds, and for metrics_listen when another process owns that "
     "port. Find the owner with `ss -tanp` or `ss -uanp`, and prefer a `source` without a port.",
     false},
    {10049, "WSAEADDRNOTAVAIL", "Cannot assign requested address.",
     "The address cannot be used from this host (EADDRNOTAVAIL): a `source` address that is not "
     "configured on any interface (or an IPv6 address still in duplicate address detection), or "
     "no free ephemeral port left for a new connection. Check `ip addr` for the source address, "
     "`sysctl net.ipv4.ip_local_port_range`, and `ss -s` for a pile of TIME_WAIT sockets.",
     false},
    {10050, "WSAENETDOWN", "Network is down.",
     "The interface needed for the operation is down (ENETDOWN), typically because a link, "
     "Wi-Fi association, or VPN or tunnel interface went away while probes were running. Check "
     "`ip link` for state DOWN or NO-CARRIER, and the NetworkManager or systemd-networkd journal "
     "around the failure times.",
     false},
    {10051, "WSAENETUNREACH", "Network is unreachable.",
     "The kernel has no route to the destination network (ENETUNREACH), or a router answered "
     "with ICMP 'network unreachable'. Typical causes: no default route, an IPv6 target on a host "
     "without IPv6 connectivity, or a policy-routing rule of type unreachable. Check `ip route get "
     "ADDR` (or `ip -6 route get ADDR`) and `ip rule`.",
     false},
    {10052, "WSAENETRESET", "Network dropped connection on reset.",
     "A connection was dropped because the network reported it broken (ENETRESET). Linux returns "
     "this rarely; keep-alive failures on TCP normally surface as ETIMEDOUT instead. Look for "
     "route or interface changes at that moment (`ip monitor`, the journal).",
     false},
    {10053, "WSAECONNABORTED", "Software caused connection abort.",
     "The local stack gave up on the connection (ECONNABORTED), or netdiagd did: a send probe "
     "whose peer replied without the bytes `expect` asks for, or closed before them, is filed "
     "here with raw REPLY_MISMATCH in phase verify (Windows words this code as a connection "
     "aborted by this host's software, \"possibly due to a data transmission time-out or "
     "protocol error\"). For REPLY_MISMATCH the network is fine and the service answered "
     "wrongly: the detail shows what arrived (`got \"HTTP/1.0 500 ...\"`); check the service "
     "and the target's `expect`. For ECONNABORTED, which on Linux mostly comes from accept() and "
     "is rare for a client, read it as a connection torn down on this host, for example under "
     "TCP memory pressure: check `nstat -az | grep -i abort` and `journalctl -k`.",
     false},
    {10054, "WSAECONNRESET", "Connection reset by peer.",
     "The peer or a middlebox sent a TCP RST on an established connection (ECONNRESET), or the "
     "probe wrote to a connection the peer had already closed (EPIPE). Typical causes: the service "
     "crashed or closed on purpose (for instance it rejected the payload), or a load balancer or "
     "firewall killed the flow. Check the service's own logs, `ss -ti` on the server, and "
     "`reject with tcp reset` rules on the path.",
     false},
    {10055, "WSAENOBUFS", "No buffer space available.",
     "The kernel had no buffer space or a queue was full (ENOBUFS). On Linux this shows up on "
     "sends when the interface queue or qdisc overflows, or when socket memory limits are reached "
     "under load; plain out-of-memory (ENOMEM) is filed as WSA_NOT_ENOUGH_MEMORY instead. Check "
     "`ip -s link` for TX drops, `tc -s qdisc`, and the net.core.wmem_max and net.ipv4.udp_mem "
     "sysctls.",
     false},
    {10056, "WSAEISCONN", "Socket is already connected.",
     "connect() was called on a socket that is already connected (EISCONN). netdiagd connects "
     "each probe socket once, so this indicates a bug in the probe code rather than a network "
     "fault. Report it with the target's section.",
     false},
    {10057, "WSAENOTCONN", "Socket is not connected.",
     "Data was sent or read on an unconnected socket, or on one whose connection is already gone "
     "(ENOTCONN). In netdiagd it typically follows a connection that broke between the connect "
     "phase and the send phase. Look at the phase of the failure and the preceding failures of "
     "the same target; a reset or a timeout usually comes first.",
     false},
    {10058, "WSAESHUTDOWN", "Cannot send after socket shutdown.",
     "A send happened after the sending direction had been shut down (ESHUTDOWN). netdiagd never "
     "writes after shutting a socket down, so this points at a probe bug; note that EPIPE from a "
     "connection the peer closed is filed under WSAECONNRESET, not here. Report it with the "
     "target's section.",
     false},
    {10060, "WSAETIMEDOUT", "Connection timed out.",
     "No answer came in time: either the kernel gave up (ETIMEDOUT, e.g. SYN retransmissions "
     "exhausted) or, far more often, the probe's own `timeout` expired in the phase shown. Silent "
     "drops cause it: a firewall that DROPs instead of rejecting, a host that is down, or a "
     "black-holed or congested path. Check `ping` or `mtr` to the address, drop rules on both "
     "ends (`nft list ruleset`), and `ss -tn state syn-sent` while the probe runs.",
     false},
    {10061, "WSAECONNREFUSED", "Connection refused.",
     "The destination answered the connection attempt with a TCP RST (ECONNREFUSED), or with "
     "ICMP 'port unreachable', which Linux reports the same way for TCP and for connected UDP "
     "sockets. Usually nothing listens on that address and port (service stopped, crashed, or "
     "bound to another address, such as 127.0.0.1 versus ::1), or a firewall rejects with "
     "tcp-reset or port-unreachable. Check `ss -ltnp` (`ss -lunp` for UDP) on the server, the "
     "service's `systemctl status`, and nft/iptables `reject` rules.",
     false},
    {10064, "WSAEHOSTDOWN", "Host is down.",
     "The destination host is reported down (EHOSTDOWN); Linux produces it when a router answers "
     "with ICMP 'destination host unknown'. It is rare, and in practice it means the same as "
     "WSAEHOSTUNREACH: the address is not reachable right now. Check `ip route get ADDR`, `mtr "
     "ADDR`, and whether the host is powered and addressed as expected.",
     false},
    {10065, "WSAEHOSTUNREACH", "No route to host.",
     "No way to reach the host (EHOSTUNREACH): for an address on the local subnet the neighbour "
     "lookup (ARP or NDP) got no reply, or a router or firewall sent ICMP 'host unreachable' or "
     "'administratively prohibited' (firewalld's default reject, or nftables `reject with icmpx "
     "admin-prohibited`). Check `ip neigh show ADDR` for FAILED or INCOMPLETE, `ip route get "
     "ADDR`, and reject rules on the path.",
     false},
    {10067, "WSAEPROCLIM", "Too many processes.",
     "Windows reports that too many applications are using its Windows Sockets implementation at "
     "once. Linux has no such limit and no errno for it (EPROCLIM exists only on BSD), so netdiagd "
     "never produces this code; it is listed so every code of the Windows table can be explained "
     "and joined in SQL.",
     false},
    {10091, "WSASYSNOTREADY", "Network subsystem is unavailable.",
     "Windows' WSAStartup() found the networking subsystem unusable. Linux has no WSAStartup() "
     "and its socket API is always present, so netdiagd never produces this code; it is in the "
     "table only for completeness and for `netdiag explain`.",
     false},
    {10092, "WSAVERNOTSUPPORTED", "Winsock.dll version out of range.",
     "Windows' WSAStartup() could not provide the Windows Sockets version an application asked "
     "for. There is no versioned socket library on Linux, so netdiagd never produces it; it is "
     "kept so the table matches the Windows list.",
     false},
    {10093, "WSANOTINITIALISED", "Successful WSAStartup not yet performed.",
     "A Windows program used a socket call before a successful WSAStartup(). Linux sockets need "
     "no initialisation step, so netdiagd never reports this code; it is listed so that "
     "Windows-side logs quoting it can be explained.",
     false},
    {10101, "WSAEDISCON", "Graceful shutdown in progress.",
     "Windows reports that the peer started an orderly close on a message-oriented socket. On "
     "Linux an orderly close is a read of zero bytes, not an error code, so no errno maps here "
     "(.NET uses this code for ESHUTDOWN; netdiag files ESHUTDOWN under WSAESHUTDOWN). netdiagd "
     "does not produce it from a raw errno.",
     false},
    {10109, "WSATYPE_NOT_FOUND", "Class type not found.",
     "Windows uses it when a service or class name is unknown. In netdiag it comes from "
     "getaddrinfo's EAI_SERVICE: a port given as a service name that /etc/services does not "
     "know, or that does not exist for the chosen protocol. Use a numeric port or check `getent "
     "services NAME`.",
     false},
    {11001, "WSAHOST_NOT_FOUND", "Host not found.",
     "The name does not exist: EAI_NONAME from getaddrinfo, or an NXDOMAIN answer (to a resolve "
     "probe, or to netdiagd's look-up of a host name, after every search domain). Typical causes "
     "are a typo in `host` or `name`, a missing /etc/hosts entry, a "
     "search domain that is not applied, or a zone that really lacks the name. Check `getent "
     "hosts NAME`, /etc/hosts, and ask the configured server directly with `dig @SERVER NAME`.",
     false},
    {11002, "WSATRY_AGAIN", "Nonauthoritative host not found.",
     "A temporary resolver failure: EAI_AGAIN, a SERVFAIL answer (from every nameserver asked), "
     "or a nameserver that stayed silent (raw TIMEOUT). Usually the recursive server cannot reach "
     "the "
     "authoritative ones, DNSSEC validation failed, or the configured nameserver is down or "
     "unreachable. Check `resolvectl status` or /etc/resolv.conf, then `dig @SERVER NAME` for the "
     "status and `dig +cd @SERVER NAME` to rule DNSSEC in or out.",
     false},
    {11003, "WSANO_RECOVERY", "This is a nonrecoverable error.",
     "The lookup failed in a way that retrying will not fix: EAI_FAIL, or a resolve probe that got "
     "REFUSED, FORMERR, NOTIMP, another error rcode, or an answer it could not parse. Typical "
     "causes: the server refuses recursion for this host (ACL), does not implement the query "
     "type, or a middlebox mangles DNS (a truncated answer whose TCP retry closed without one is "
     "MALFORMED). Check `dig @SERVER NAME TYPE` from this host and the server's allow-query and "
     "allow-recursion settings.",
     false},
    {11004, "WSANO_DATA", "Valid name, no data record of requested type.",
     "The name exists but has no record of the asked type: EAI_NODATA or EAI_ADDRFAMILY, or a "
     "NOERROR answer without matching records in a resolve probe. The usual case is asking for "
     "AAAA (family = ipv6) for a host that only has an A record (or a name that /etc/hosts lists "
     "with IPv4 addresses only), or for A on a name that only has MX or TXT. Compare `dig NAME "
     "A` with `dig NAME AAAA` and `getent ahosts NAME`, and check the target's `type` and "
     "`family`. A resolve probe whose answers lack its `expect` is filed here too, with raw "
     "MISMATCH in phase verify: the name has records of the type, just not the one expected; "
     "the detail lists what came.",
     false},
    {6, "WSA_INVALID_HANDLE", "Specified event object handle is invalid.",
     "Windows reports that an event object handle passed to a Windows Sockets call is invalid. "
     "The Linux socket API has no event handles, so netdiagd never produces this code (a bad "
     "descriptor, EBADF, is filed under WSAENOTSOCK); it is listed because it belongs to the "
     "Windows table.",
     true},
    {87, "WSA_INVALID_PARAMETER", "One or more parameters are invalid.",
     "A Windows function underneath Windows Sockets rejected its parameters. netdiagd never "
     "produces it, because invalid arguments on Linux (EINVAL) are filed under WSAEINVAL 10022; "
     "it is kept for completeness of the table.",
     true},
    {996, "WSA_IO_INCOMPLETE", "Overlapped I/O event object not in signaled state.",
     "A Windows program polled overlapped I/O that had not finished yet. Linux has no overlapped "
     "I/O (netdiagd uses non-blocking sockets driven by libevent), so this code never appears in "
     "netdiag's history; it is listed for completeness.",
     true},
    {997, "WSA_IO_PENDING", "Overlapped operations will complete later.",
     "Windows overlapped I/O was started and will complete later; it is a status, not a failure. "
     "netdiagd never produces it: the Linux equivalent of 'still running' is EINPROGRESS, filed "
     "under WSAEINPROGRESS 10036. It is listed for completeness.",
     true},
    {8, "WSA_NOT_ENOUGH_MEMORY", "Insufficient memory available.",
     "Memory could not be allocated for the operation. In netdiag it comes from ENOMEM on a "
     "socket call or from getaddrinfo's EAI_MEMORY, so the kernel or netdiagd itself is short of "
     "memory. Check `free -m`, the unit's MemoryMax=, and `journalctl -k` for OOM-killer "
     "messages.",
     true},
    {995, "WSA_OPERATION_ABORTED", "Overlapped operation aborted.",
     "The operation was cancelled before it finished. In netdiag it is what a probe reports when "
     "netdiagd itself cancels it: a DNS request cancelled on shutdown or reload (libevent's "
     "EVUTIL_EAI_CANCEL, DNS outcome CANCELLED) or ECANCELED. A few entries around reloads are "
     "expected; a steady stream means probes are cancelled every cycle, so check the journal for "
     "frequent SIGHUPs.",
     true},
    {10104, "WSAINVALIDPROCTABLE", "Invalid procedure table from service provider.",
     "A Windows service provider DLL handed ws2_32 a broken function table. Linux has no Winsock "
     "service providers, so netdiagd never produces it; it is listed for completeness.",
     true},
    {10105, "WSAINVALIDPROVIDER", "Invalid service provider version number.",
     "A Windows service provider reported a version other than the one ws2_32 requires. No such "
     "provider layer exists on Linux, so netdiagd never produces it; it is listed for "
     "completeness.",
     true},
    {10106, "WSAPROVIDERFAILEDINIT", "Unable to initialize a service provider.",
     "A Windows service provider DLL could not be loaded or initialised, the classic symptom of a "
     "damaged Winsock catalog on Windows. Linux has no provider catalog, so netdiagd never "
     "produces it; it is listed for completeness.",
     true},
    {10107, "WSASYSCALLFAILURE", "System call failure.",
     "netdiag's catch-all: the raw errno, EAI code or DNS outcome has no mapping of its own, or "
     "getaddrinfo returned EAI_SYSTEM (whose real cause is in errno). The raw value is stored "
     "next to the code, so look at the raw and raw_value columns (`netdiag failures`) and the "
     "detail text first. If the same raw value keeps coming back it deserves a mapping of its "
     "own.",
     true},
};

const size_t wsa_table_len = ND_ARRAY_LEN(wsa_table);

_Static_assert(ND_ARRAY_LEN(wsa_table) == 53, "the source table has 53 codes");

/*
 * Mapping tables.
 *
 * Sources: Wine's ws2_32 on Linux (dlls/ws2_32/unixlib.c errno_from_unix()
 * and addrinfo_err_from_unix(); the socket I/O path goes through ntdll's
 * sock_errno_to_status() and then ws2_32's NtStatusToWSAError() table) and
 * .NET (SocketErrorPal.Unix.cs for errno, pal_networking.c +
 * NameResolutionPal.Unix.cs for EAI_*). Where both agree we follow them.
 * Where they disagree or are silent, we chose as follows:
 *
 *   EINPROGRESS  Wine 10035 WSAEWOULDBLOCK, .NET 10036 WSAEINPROGRESS.
 *                We take 10036: name for name, and EAGAIN stays distinct.
 *   EPIPE        Wine 10054 WSAECONNRESET, .NET 10058 WSAESHUTDOWN.
 *                We take 10054: a probe never writes after its own
 *                shutdown(), so EPIPE means the peer closed or reset.
 *   ESHUTDOWN    Wine 10058 WSAESHUTDOWN, .NET 10101 WSAEDISCON.
 *                We take 10058: same meaning, same name.
 *   EBADF        Wine 10038 WSAENOTSOCK (via STATUS_INVALID_HANDLE),
 *                .NET 995 WSA_OPERATION_ABORTED. We take 10038: a bad
 *                descriptor is a netdiagd bug, and cancellation has its
 *                own explicit sources (ECANCELED, EVUTIL_EAI_CANCEL).
 *   EADDRNOTAVAIL, EDESTADDRREQ, ENOPROTOOPT, EPROTOTYPE, EPROTONOSUPPORT,
 *   ESOCKTNOSUPPORT, EPFNOSUPPORT, EAFNOSUPPORT, EALREADY
 *                Wine's NTSTATUS path folds these into WSAEINVAL,
 *                WSAEOPNOTSUPP or WSAENETDOWN; Wine's direct errno table
 *                and .NET keep the same-named code. We keep the name.
 *   ENOMEM       Neither maps it. We take 8 WSA_NOT_ENOUGH_MEMORY, the
 *                code Wine uses for EAI_MEMORY, so memory shortage is one
 *                code and stays apart from ENOBUFS (10055).
 *   ECANCELED    .NET 995, Wine none. We take 995.
 *   ENONET       Neither. Linux raises it for ICMP "host isolated"; we
 *                take 10065 WSAEHOSTUNREACH.
 *   ENXIO, ENOENT, ENODATA
 *                .NET maps them (11001, 10049, 11004) for its own name
 *                APIs; from sockets they mean something else, so they
 *                stay unmapped (10107 with the raw value kept).
 *   EAI_NONAME / EAI_NODATA
 *                Both Wine and .NET fold EAI_NODATA into 11001 (Windows
 *                defines EAI_NODATA == EAI_NONAME). We deliberately keep
 *                EAI_NODATA at 11004 WSANO_DATA: glibc and evdns return it
 *                for a name that exists without records of the family
 *                asked, which is a different fault from a missing name.
 *   EAI_ADDRFAMILY  Neither maps it. 11004: the name exists but not in
 *                the family asked (WSAEAFNOSUPPORT would suggest a local
 *                stack problem).
 *   EAI_MEMORY   Wine 8, .NET throws OutOfMemoryException. We take 8.
 *   EAI_SERVICE, EAI_SOCKTYPE
 *                Wine 10109 and 10044, .NET unmapped. We follow Wine.
 *   EAI_SYSTEM   Wine re-maps errno, .NET returns its generic error. We
 *                return 10107; a caller holding errno should classify
 *                errno with wsa_from_errno() instead.
 *   EAI_OVERFLOW, EAI_CANCELED, EAI_INTR, EVUTIL_EAI_CANCEL
 *                Neither maps them. 10014 (buffer too small is part of
 *                WSAEFAULT's meaning), 995, 10004, 995.
 *
 * Name found, no address of the family asked (EAI_ADDRFAMILY): a connect
 *                or send target `host = localhost`, `family = ipv6` where
 *                /etc/hosts has only `127.0.0.1 localhost`. libevent hands
 *                over result 0 and an empty list; glibc's getaddrinfo says
 *                EAI_NONAME there (nss files finds no entry of the family,
 *                nothing else answers), which would call an existing name
 *                missing. Windows' getaddrinfo reports a name that exists
 *                without a record of the asked type as WSANO_DATA, and
 *                glibc's manual defines EAI_ADDRFAMILY for exactly this
 *                ("the specified network host does not have any network
 *                addresses in the requested address family"). We store
 *                raw EAI_ADDRFAMILY, code 11004, phase resolve.
 *
 * An answer without `expect` (phase verify) is no socket or resolver
 * error, so neither project has a code for it; we chose per kind:
 *   MISMATCH     (resolve) 11004 WSANO_DATA: the name is valid and has
 *                records of the type, none with the data expected; the
 *                nearest meaning, and an alert on 11004 is about the name
 *                not giving what is needed either way.
 *   REPLY_MISMATCH (send) 10053 WSAECONNABORTED: the peer answered, not
 *                what the protocol should say, and netdiagd aborts the
 *                exchange (a RST on TCP); Microsoft's text for 10053 is
 *                "aborted by the software in your host computer, possibly
 *                due to a data transmission time-out or protocol error".
 *                Rejected: WSANO_DATA (a resolver code: sends the reader to
 *                DNS for a wrong HTTP reply), WSAEPROTOTYPE/NOSUPPORT
 *                (socket creation errors), WSASYSCALLFAILURE (no system
 *                call failed), WSAEDISCON (only the peer-closed case).
 *
 * DNS outcomes have no counterpart in either project; they follow glibc's
 * res_query() rcode -> h_errno rules (NXDOMAIN -> HOST_NOT_FOUND, SERVFAIL
 * and no answer -> TRY_AGAIN, NOERROR without data -> NO_DATA, every other
 * rcode -> NO_RECOVERY), then the h_errno -> WSA mapping of Wine's
 * ws2_32 (11001..11004). MALFORMED and CANCELLED are our own choices.
 *
 * Unmapped values are never 0: they become WSASYSCALLFAILURE. Rows that
 * share a value (EAGAIN/EWOULDBLOCK, EOPNOTSUPP/ENOTSUP on Linux) list the
 * preferred name first; look-ups by value take the first row.
 */

struct map_row {
    const char *name;
    int value;
    int wsa;
};

/* clang-format off */
#define ROW(v, wsa) {#v, (v), (wsa)}
/* clang-format on */

static const struct map_row errno_rows[] = {
    ROW(EINTR, WSAEINTR),
    ROW(EACCES, WSAEACCES),
    ROW(EPERM, WSAEACCES), /* netfilter drops of local packets give EPERM */
    ROW(EFAULT, WSAEFAULT),
    ROW(EINVAL, WSAEINVAL),
    ROW(EMFILE, WSAEMFILE),
    ROW(ENFILE, WSAEMFILE),
    ROW(EAGAIN, WSAEWOULDBLOCK),
    ROW(EWOULDBLOCK, WSAEWOULDBLOCK), /* == EAGAIN on Linux */
    ROW(EINPROGRESS, WSAEINPROGRESS), /* .NET; Wine says WSAEWOULDBLOCK */
    ROW(EALREADY, WSAEALREADY),
    ROW(ENOTSOCK, WSAENOTSOCK),
    ROW(EBADF, WSAENOTSOCK), /* Wine; .NET says 995 */
    ROW(EDESTADDRREQ, WSAEDESTADDRREQ),
    ROW(EMSGSIZE, WSAEMSGSIZE),
    ROW(EPROTOTYPE, WSAEPROTOTYPE),
    ROW(ENOPROTOOPT, WSAENOPROTOOPT), /* also ICMP protocol-unreachable */
    ROW(EPROTONOSUPPORT, WSAEPROTONOSUPPORT),
    ROW(ESOCKTNOSUPPORT, WSAESOCKTNOSUPPORT),
    ROW(EOPNOTSUPP, WSAEOPNOTSUPP),
    ROW(ENOTSUP, WSAEOPNOTSUPP), /* == EOPNOTSUPP on Linux */
    ROW(EPFNOSUPPORT, WSAEPFNOSUPPORT),
    ROW(EAFNOSUPPORT, WSAEAFNOSUPPORT),
    ROW(EADDRINUSE, WSAEADDRINUSE),
    ROW(EADDRNOTAVAIL, WSAEADDRNOTAVAIL),
    ROW(ENETDOWN, WSAENETDOWN),
    ROW(ENETUNREACH, WSAENETUNREACH),
    ROW(ENETRESET, WSAENETRESET),
    ROW(ECONNABORTED, WSAECONNABORTED),
    ROW(ECONNRESET, WSAECONNRESET),
    ROW(EPIPE, WSAECONNRESET), /* Wine; .NET says WSAESHUTDOWN */
    ROW(ENOBUFS, WSAENOBUFS),
    ROW(ENOMEM, WSA_NOT_ENOUGH_MEMORY), /* neither maps it; see above */
    ROW(EISCONN, WSAEISCONN),
    ROW(ENOTCONN, WSAENOTCONN),
    ROW(ESHUTDOWN, WSAESHUTDOWN), /* Wine; .NET says WSAEDISCON */
    ROW(ETIMEDOUT, WSAETIMEDOUT),
    ROW(ECONNREFUSED, WSAECONNREFUSED),
    ROW(EHOSTDOWN, WSAEHOSTDOWN),
    ROW(EHOSTUNREACH, WSAEHOSTUNREACH),
    ROW(ENONET, WSAEHOSTUNREACH),          /* ICMP host isolated; neither maps it */
    ROW(ECANCELED, WSA_OPERATION_ABORTED), /* .NET; Wine none */
};

/* evdns_getaddrinfo() hands us EVUTIL_EAI_* values; on a libc with
 * getaddrinfo() libevent defines them as the system EAI_* values, which is
 * what the rows below rely on. */
/* NOLINTBEGIN(misc-redundant-expression): equal by design, checked in case */
_Static_assert(EVUTIL_EAI_NONAME == EAI_NONAME && EVUTIL_EAI_AGAIN == EAI_AGAIN &&
                   EVUTIL_EAI_FAIL == EAI_FAIL && EVUTIL_EAI_MEMORY == EAI_MEMORY,
               "libevent's EVUTIL_EAI_* differ from the system EAI_* values");
/* NOLINTEND(misc-redundant-expression) */

static const struct map_row eai_rows[] = {
    ROW(EAI_NONAME, WSAHOST_NOT_FOUND),
    ROW(EAI_AGAIN, WSATRY_AGAIN),
    ROW(EAI_FAIL, WSANO_RECOVERY),
#ifdef EAI_NODATA
    ROW(EAI_NODATA, WSANO_DATA), /* Wine and .NET say 11001; see above */
#endif
#ifdef EAI_ADDRFAMILY
    ROW(EAI_ADDRFAMILY, WSANO_DATA), /* neither maps it */
#endif
    ROW(EAI_FAMILY, WSAEAFNOSUPPORT),
    ROW(EAI_SOCKTYPE, WSAESOCKTNOSUPPORT), /* Wine; .NET unmapped */
    ROW(EAI_SERVICE, WSATYPE_NOT_FOUND),   /* Wine; .NET unmapped */
    ROW(EAI_BADFLAGS, WSAEINVAL),
    ROW(EAI_MEMORY, WSA_NOT_ENOUGH_MEMORY), /* Wine; .NET throws */
    ROW(EAI_SYSTEM, WSASYSCALLFAILURE),     /* the cause is in errno */
    ROW(EAI_OVERFLOW, WSAEFAULT),           /* neither maps it */
#ifdef EAI_CANCELED
    ROW(EAI_CANCELED, WSA_OPERATION_ABORTED),
#endif
#ifdef EAI_INTR
    ROW(EAI_INTR, WSAEINTR),
#endif
    ROW(EVUTIL_EAI_CANCEL, WSA_OPERATION_ABORTED), /* evdns request cancelled */
};

#undef ROW

static const struct map_row dns_rows[] = {
    {"OK", DNS_OK, WSA_OK},
    {"NXDOMAIN", DNS_NXDOMAIN, WSAHOST_NOT_FOUND},
    {"SERVFAIL", DNS_SERVFAIL, WSATRY_AGAIN},
    {"REFUSED", DNS_REFUSED, WSANO_RECOVERY}, /* glibc: NO_RECOVERY */
    {"FORMERR", DNS_FORMERR, WSANO_RECOVERY}, /* glibc: NO_RECOVERY */
    {"NOTIMP", DNS_NOTIMP, WSANO_RECOVERY},   /* glibc: NO_RECOVERY */
    {"NODATA", DNS_NODATA, WSANO_DATA},
    /* A silent nameserver: what getaddrinfo reports as EAI_AGAIN. The
     * probe's own deadline is a different matter (WSAETIMEDOUT). */
    {"TIMEOUT", DNS_TIMEOUT, WSATRY_AGAIN},
    {"CANCELLED", DNS_CANCELLED, WSA_OPERATION_ABORTED},
    /* Our choice: an unusable reply is a server or middlebox fault that
     * asking the same server again will not cure, like FORMERR. */
    {"MALFORMED", DNS_MALFORMED, WSANO_RECOVERY},
    {"OTHER", DNS_OTHER, WSANO_RECOVERY}, /* glibc's default branch */
};

/* Raw names that are no errno, EAI or DNS value (see above). */
static const struct map_row other_rows[] = {
    {WSA_RAW_MISMATCH, 1, WSANO_DATA},
    {WSA_RAW_REPLY_MISMATCH, 2, WSAECONNABORTED},
};

static const struct map_row *map_by_value(const struct map_row *rows, size_t n, int value)
{
    for (size_t i = 0; i < n; i++)
        if (rows[i].value == value)
            return &rows[i];
    return NULL;
}

static const struct map_row *map_by_name(const struct map_row *rows, size_t n, const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(rows[i].name, name) == 0)
            return &rows[i];
    return NULL;
}

/* The value of the row named `name` into *value (when not NULL): false
 * when there is none. */
static bool map_value_by_name(const struct map_row *rows, size_t n, const char *name, int *value)
{
    const struct map_row *row = map_by_name(rows, n, name);

    if (row == NULL)
        return false;
    if (value != NULL)
        *value = row->value;
    return true;
}

/* Every distinct value whose row maps onto `code`, in table order; alias
 * rows (same value, second name) are counted once. */
static size_t map_values_for(const struct map_row *rows, size_t n, int code, int *out, size_t max)
{
    size_t count = 0;

    for (size_t i = 0; i < n; i++) {
        if (rows[i].wsa != code)
            continue;
        if (map_by_value(rows, i, rows[i].value) != NULL)
            continue; /* an earlier row already has this value */
        if (out != NULL && count < max)
            out[count] = rows[i].value;
        count++;
    }
    return count;
}

const struct wsa_code *wsa_by_code(int code)
{
    for (size_t i = 0; i < wsa_table_len; i++)
        if (wsa_table[i].code == code)
            return &wsa_table[i];
    return NULL;
}

/* "WSAECONNREFUSED", "econnrefused", "WSA_IO_PENDING", "io_pending" and
 * "_io_pending" all name a row; every table name starts with "WSA". */
const struct wsa_code *wsa_by_name(const char *name)
{
    if (name == NULL || *name == '\0')
        return NULL;
    for (size_t i = 0; i < wsa_table_len; i++) {
        const char *full = wsa_table[i].name;
        const char *bare = full + 3;

        if (strcasecmp(name, full) == 0 || strcasecmp(name, bare) == 0 ||
            (bare[0] == '_' && strcasecmp(name, bare + 1) == 0))
            return &wsa_table[i];
    }
    return NULL;
}

/* The code of a raw value: WSA_OK for 0, WSASYSCALLFAILURE for one the
 * table does not know. */
static int map_wsa(const struct map_row *rows, size_t n, int value)
{
    const struct map_row *row;

    if (value == 0)
        return WSA_OK;
    row = map_by_value(rows, n, value);
    return row != NULL ? row->wsa : WSASYSCALLFAILURE;
}

int wsa_from_errno(int err)
{
    return map_wsa(errno_rows, ND_ARRAY_LEN(errno_rows), err);
}

int wsa_from_eai(int eai)
{
    return map_wsa(eai_rows, ND_ARRAY_LEN(eai_rows), eai);
}

int wsa_from_dns(enum dns_outcome outcome)
{
    const struct map_row *row = map_by_value(dns_rows, ND_ARRAY_LEN(dns_rows), (int)outcome);

    return row != NULL ? row->wsa : WSASYSCALLFAILURE;
}

const char *wsa_errno_name(int err)
{
    const struct map_row *row = map_by_value(errno_rows, ND_ARRAY_LEN(errno_rows), err);

    return row != NULL ? row->name : NULL;
}

const char *wsa_eai_name(int eai)
{
    const struct map_row *row = map_by_value(eai_rows, ND_ARRAY_LEN(eai_rows), eai);

    return row != NULL ? row->name : NULL;
}

const char *wsa_dns_outcome_name(enum dns_outcome outcome)
{
    const struct map_row *row = map_by_value(dns_rows, ND_ARRAY_LEN(dns_rows), (int)outcome);

    return row != NULL ? row->name : NULL;
}

bool wsa_errno_from_name(const char *name, int *err)
{
    return map_value_by_name(errno_rows, ND_ARRAY_LEN(errno_rows), name, err);
}

bool wsa_eai_from_name(const char *name, int *eai)
{
    return map_value_by_name(eai_rows, ND_ARRAY_LEN(eai_rows), name, eai);
}

size_t wsa_errnos_for(int code, int *out, size_t max)
{
    return map_values_for(errno_rows, ND_ARRAY_LEN(errno_rows), code, out, max);
}

size_t wsa_eais_for(int code, int *out, size_t max)
{
    return map_values_for(eai_rows, ND_ARRAY_LEN(eai_rows), code, out, max);
}

size_t wsa_dns_for(int code, enum dns_outcome *out, size_t max)
{
    size_t count = 0;

    for (size_t i = 0; i < ND_ARRAY_LEN(dns_rows); i++) {
        if (dns_rows[i].wsa != code)
            continue;
        if (out != NULL && count < max)
            out[count] = (enum dns_outcome)dns_rows[i].value;
        count++;
    }
    return count;
}

int wsa_from_mismatch(bool dns_answer)
{
    return dns_answer ? WSANO_DATA : WSAECONNABORTED;
}

const char *wsa_mismatch_name(bool dns_answer)
{
    return dns_answer ? WSA_RAW_MISMATCH : WSA_RAW_REPLY_MISMATCH;
}

const char *wsa_raw_errno(int err, char *buf, size_t len)
{
    const char *name = wsa_errno_name(err);

    if (name == NULL && err > 0)
        name = strerrorname_np(err); /* unmapped, but named: ENOENT */
    if (name != NULL)
        return name;
    snprintf(buf, len, "errno %d", err);
    return buf;
}

const char *wsa_raw_eai(int eai, char *buf, size_t len)
{
    const char *name = wsa_eai_name(eai);

    if (name != NULL)
        return name;
    snprintf(buf, len, "EAI %d", eai);
    return buf;
}

const char *wsa_raw_dns(enum dns_outcome outcome)
{
    const char *name = wsa_dns_outcome_name(outcome);

    return name != NULL ? name : "DNS";
}

/* "errno 123" / "EAI -42": the number after the prefix, whole. */
static bool raw_number(const char *raw, const char *prefix, int *out)
{
    size_t plen = strlen(prefix);
    char *end;
    long v;

    if (strncasecmp(raw, prefix, plen) != 0 || raw[plen] == '\0')
        return false;
    errno = 0;
    v = strtol(raw + plen, &end, 10);
    if (errno != 0 || *end != '\0' || v < -1000000 || v > 1000000)
        return false;
    *out = (int)v;
    return true;
}

int wsa_raw_lookup(const char *raw, char *how, size_t howlen)
{
    const struct map_row *row;
    int v;

    if (raw == NULL || raw[0] == '\0')
        return -1;
    if ((row = map_by_name(other_rows, ND_ARRAY_LEN(other_rows), raw)) != NULL) {
        snprintf(how, howlen, "raw %s: %s", row->name,
                 row->value == 1 ? "a resolve answer without the `expect` data (phase verify)"
                                 : "a send reply without the `expect` bytes (phase verify)");
        return row->wsa;
    }
    if ((row = map_by_name(errno_rows, ND_ARRAY_LEN(errno_rows), raw)) != NULL) {
        snprintf(how, howlen, "errno %s (%d)", row->name, row->value);
        return wsa_from_errno(row->value);
    }
    for (v = 1; v < 4096; v++) {
        const char *name = strerrorname_np(v);
        if (name != NULL && strcasecmp(name, raw) == 0) {
            snprintf(how, howlen, "errno %s (%d), which has no mapping of its own", name, v);
            return wsa_from_errno(v);
        }
    }
    if (raw_number(raw, "errno ", &v)) {
        snprintf(how, howlen, "errno %d, which has no name", v);
        return wsa_from_errno(v);
    }
    if ((row = map_by_name(eai_rows, ND_ARRAY_LEN(eai_rows), raw)) != NULL) {
        snprintf(how, howlen, "getaddrinfo %s (%d)", row->name, row->value);
        return wsa_from_eai(row->value);
    }
    if (raw_number(raw, "EAI ", &v)) {
        snprintf(how, howlen, "getaddrinfo error %d, which has no name", v);
        return wsa_from_eai(v);
    }
    /* DNS_OK is no failure: never stored as a raw name */
    for (size_t i = 1; i < ND_ARRAY_LEN(dns_rows); i++) {
        if (strcasecmp(dns_rows[i].name, raw) == 0) {
            snprintf(how, howlen, "DNS outcome %s", dns_rows[i].name);
            return dns_rows[i].wsa;
        }
    }
    if (strcasecmp(raw, "DNS") == 0) {
        snprintf(how, howlen, "a DNS outcome without a name");
        return WSASYSCALLFAILURE;
    }
    return -1;
}
