-- SPDX-License-Identifier: ISC
-- A database of schema version 4 as netdiagd made it: `sqlite3 nd.db .dump` of
-- what netdiagd 0.1.0 at commit 0cc58a0 (before schema 5) wrote in 4 s on
-- two loopback connect targets probed every 100 ms, web (a listener that
-- accepts) and refused (port 1), stopped with SIGTERM. Its pragmas are not
-- in a dump: application_id 1313097031 and user_version 4 are set by
-- test_migrates_a_real_version_4_database (test_store.py), which also moves
-- its times into the last hours. Never edit it: it stands for databases in
-- the field.
PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE wsa_codes (
    code         INTEGER PRIMARY KEY,  -- 10061
    name         TEXT NOT NULL,        -- 'WSAECONNREFUSED'
    meaning      TEXT NOT NULL,        -- 'Connection refused.'
    explanation  TEXT NOT NULL,        -- what usually causes it on Linux
    os_dependent INTEGER NOT NULL DEFAULT 0 -- 1 for the 10 "OS dependent" codes
);
INSERT INTO wsa_codes VALUES(6,'WSA_INVALID_HANDLE','Specified event object handle is invalid.','Windows reports that an event object handle passed to a Windows Sockets call is invalid. The Linux socket API has no event handles, so netdiagd never produces this code (a bad descriptor, EBADF, is filed under WSAENOTSOCK); it is listed because it belongs to the Windows table.',1);
INSERT INTO wsa_codes VALUES(8,'WSA_NOT_ENOUGH_MEMORY','Insufficient memory available.','Memory could not be allocated for the operation. In netdiag it comes from ENOMEM on a socket call or from getaddrinfo''s EAI_MEMORY, so the kernel or netdiagd itself is short of memory. Check `free -m`, the unit''s MemoryMax=, and `journalctl -k` for OOM-killer messages.',1);
INSERT INTO wsa_codes VALUES(87,'WSA_INVALID_PARAMETER','One or more parameters are invalid.','A Windows function underneath Windows Sockets rejected its parameters. netdiagd never produces it, because invalid arguments on Linux (EINVAL) are filed under WSAEINVAL 10022; it is kept for completeness of the table.',1);
INSERT INTO wsa_codes VALUES(995,'WSA_OPERATION_ABORTED','Overlapped operation aborted.','The operation was cancelled before it finished. In netdiag it is what a probe reports when netdiagd itself cancels it: a DNS request cancelled on shutdown or reload (libevent''s EVUTIL_EAI_CANCEL, DNS outcome CANCELLED) or ECANCELED. A few entries around reloads are expected; a steady stream means probes are cancelled every cycle, so check the journal for frequent SIGHUPs.',1);
INSERT INTO wsa_codes VALUES(996,'WSA_IO_INCOMPLETE','Overlapped I/O event object not in signaled state.','A Windows program polled overlapped I/O that had not finished yet. Linux has no overlapped I/O (netdiagd uses non-blocking sockets driven by libevent), so this code never appears in netdiag''s history; it is listed for completeness.',1);
INSERT INTO wsa_codes VALUES(997,'WSA_IO_PENDING','Overlapped operations will complete later.','Windows overlapped I/O was started and will complete later; it is a status, not a failure. netdiagd never produces it: the Linux equivalent of ''still running'' is EINPROGRESS, filed under WSAEINPROGRESS 10036. It is listed for completeness.',1);
INSERT INTO wsa_codes VALUES(10004,'WSAEINTR','Interrupted function call.','A system call was interrupted by a signal before it finished (errno EINTR; the getaddrinfo_a code EAI_INTR lands here too). netdiagd restarts its own calls, so a stored 10004 points at a signal storm (reload loops, a misbehaving supervisor) or a bug. Check the journal for SIGHUP reloads around those times and `systemctl status netdiagd`.',0);
INSERT INTO wsa_codes VALUES(10013,'WSAEACCES','Permission denied.','The kernel or a security policy refused the operation (EACCES or EPERM). On Linux the usual causes are a netfilter rule dropping or rejecting locally generated packets (connect and send then fail with EPERM), sending to a broadcast address without SO_BROADCAST, binding a `source` port below 1024 without CAP_NET_BIND_SERVICE, or an SELinux/AppArmor denial. Check the output chain in `nft list ruleset`, the capabilities of the hardened unit, and the audit log or `journalctl -k` for denials.',0);
INSERT INTO wsa_codes VALUES(10014,'WSAEFAULT','Bad address.','The kernel was handed an invalid pointer or a buffer too short for the result (EFAULT; getnameinfo''s EAI_OVERFLOW is filed here as well). In netdiagd this is a programming error, never a network condition. Report it with the target''s configuration and the raw value of the failure row.',0);
INSERT INTO wsa_codes VALUES(10022,'WSAEINVAL','Invalid argument.','The kernel or the resolver rejected an argument (EINVAL, or EAI_BADFLAGS from getaddrinfo). Usually the target combines settings that do not fit, such as a `source` address of the other family than the destination or an IPv6 link-local address without a scope (%eth0). Run `netdiagd -t` and compare the target''s host, source and family.',0);
INSERT INTO wsa_codes VALUES(10024,'WSAEMFILE','Too many open files.','netdiagd or the whole system ran out of file descriptors (EMFILE for the process limit, ENFILE for the system-wide table). Every probe holds a socket while it runs, so many targets with long timeouts can reach a low limit, and so can a descriptor leak. Compare `ls /proc/$(pidof netdiagd)/fd | wc -l` with `systemctl show netdiagd -p LimitNOFILE`, and look at /proc/sys/fs/file-nr.',0);
INSERT INTO wsa_codes VALUES(10035,'WSAEWOULDBLOCK','Resource temporarily unavailable.','A non-blocking call could not complete now (EAGAIN, also spelled EWOULDBLOCK). netdiagd waits for readiness through libevent, so this rarely reaches the history; when it does it is usually a UDP send whose socket buffer was full, or a connect() the kernel could not set up at that moment. Check for bursts of probes to the same target and the socket buffer sysctls (net.core.wmem_default, net.core.wmem_max).',0);
INSERT INTO wsa_codes VALUES(10036,'WSAEINPROGRESS','Operation now in progress.','The operation has started but not finished (EINPROGRESS). That is the normal first answer of a non-blocking connect(), which netdiagd treats as ''wait'', so a stored 10036 means a probe was classified before its connect completed: a netdiagd bug worth reporting with the target''s section and the debug log.',0);
INSERT INTO wsa_codes VALUES(10037,'WSAEALREADY','Operation already in progress.','A second connect() was issued on a socket that is still connecting (EALREADY). netdiagd starts exactly one connect per probe socket, so this points at the probe state machine, not at the network. Report it with the target name and the surrounding debug log.',0);
INSERT INTO wsa_codes VALUES(10038,'WSAENOTSOCK','Socket operation on nonsocket.','The descriptor used was not a socket, or no longer a valid descriptor at all (ENOTSOCK, EBADF). In netdiagd that means a socket was closed while a probe still used it, for example around a reload; it is a bug, not a network problem. Note the time, look for a SIGHUP in the journal at that moment, and report it.',0);
INSERT INTO wsa_codes VALUES(10039,'WSAEDESTADDRREQ','Destination address required.','A datagram was sent without a destination (EDESTADDRREQ). The send probe always addresses or connects its UDP socket before writing, so this indicates a netdiagd bug. Report it together with the target''s `kind = send` section.',0);
INSERT INTO wsa_codes VALUES(10040,'WSAEMSGSIZE','Message too long.','The datagram is too large to be sent in one piece (EMSGSIZE): a UDP payload above 65507 bytes, or larger than the path MTU the kernel has learned from an ICMP ''fragmentation needed''. Compare the target''s payload size with the MTU in `ip link` and `ip route get ADDR` (a cached lower mtu shows there), and look for tunnels or VPNs on the path.',0);
INSERT INTO wsa_codes VALUES(10041,'WSAEPROTOTYPE','Protocol wrong type for socket.','The protocol requested does not fit the socket type (EPROTOTYPE), such as TCP on a datagram socket. netdiagd derives type and protocol from `kind` and `protocol` itself, so this is a bug or a very unusual kernel. Check the target''s `protocol =` value and report it.',0);
INSERT INTO wsa_codes VALUES(10042,'WSAENOPROTOOPT','Bad protocol option.','Either a socket option is unknown to the kernel (ENOPROTOOPT from setsockopt), or, more interesting, the destination host answered with ICMP ''protocol unreachable'', which Linux reports on the socket with the same errno. For a TCP or UDP probe the ICMP case means the peer''s stack or a filter in front of it rejects the protocol as a whole. Capture with `tcpdump -n icmp` while the probe runs, and check `uname -r` for the setsockopt case.',0);
INSERT INTO wsa_codes VALUES(10043,'WSAEPROTONOSUPPORT','Protocol not supported.','The kernel does not provide the protocol asked for (EPROTONOSUPPORT). netdiagd only opens TCP and UDP sockets, which every Linux kernel has, so seeing it means a stripped kernel or a sandbox that hides protocols. Check /proc/net/protocols and any seccomp or container restrictions on the service.',0);
INSERT INTO wsa_codes VALUES(10044,'WSAESOCKTNOSUPPORT','Socket type not supported.','The socket type is not supported in this address family (ESOCKTNOSUPPORT), or getaddrinfo rejected the socket type in its hints (EAI_SOCKTYPE). netdiagd only asks for stream and datagram sockets, so this is unexpected and points at a bug or an unusual libc or kernel. Report it with the target''s kind and family.',0);
INSERT INTO wsa_codes VALUES(10045,'WSAEOPNOTSUPP','Operation not supported.','The operation is not supported on this kind of socket (EOPNOTSUPP, same value as ENOTSUP), or a router reported ICMP ''source route failed'', which Linux turns into the same errno. In netdiagd it usually points at a mismatch between probe kind and protocol. Check the target''s `kind` and `protocol`, and report it if the configuration is sane.',0);
INSERT INTO wsa_codes VALUES(10046,'WSAEPFNOSUPPORT','Protocol family not supported.','The protocol family itself is not available (EPFNOSUPPORT). Linux rarely returns it; when it does, support for that family is not built into or loaded in the kernel. Check /proc/net/protocols and the kernel configuration; for IPv6 problems see WSAEAFNOSUPPORT.',0);
INSERT INTO wsa_codes VALUES(10047,'WSAEAFNOSUPPORT','Address family not supported by protocol family.','The address family cannot be used (EAFNOSUPPORT), or getaddrinfo was asked for a family it cannot serve (EAI_FAMILY). Most often IPv6 is switched off in the kernel (`ipv6.disable=1`) or blocked by the unit''s RestrictAddressFamilies= while the target needs it, or an address of one family was used on a socket of the other. Check /proc/cmdline, `systemctl show netdiagd -p RestrictAddressFamilies`, and the target''s `family` and `source`.',0);
INSERT INTO wsa_codes VALUES(10048,'WSAEADDRINUSE','Address already in use.','The local address and port are already taken (EADDRINUSE). For netdiagd this happens when a target''s `source` includes a fixed port that another socket, or the previous probe''s connection in TIME_WAIT, still holds, and for metrics_listen when another process owns that port. Find the owner with `ss -tanp` or `ss -uanp`, and prefer a `source` without a port.',0);
INSERT INTO wsa_codes VALUES(10049,'WSAEADDRNOTAVAIL','Cannot assign requested address.','The address cannot be used from this host (EADDRNOTAVAIL): a `source` address that is not configured on any interface (or an IPv6 address still in duplicate address detection), or no free ephemeral port left for a new connection. Check `ip addr` for the source address, `sysctl net.ipv4.ip_local_port_range`, and `ss -s` for a pile of TIME_WAIT sockets.',0);
INSERT INTO wsa_codes VALUES(10050,'WSAENETDOWN','Network is down.','The interface needed for the operation is down (ENETDOWN), typically because a link, Wi-Fi association, or VPN or tunnel interface went away while probes were running. Check `ip link` for state DOWN or NO-CARRIER, and the NetworkManager or systemd-networkd journal around the failure times.',0);
INSERT INTO wsa_codes VALUES(10051,'WSAENETUNREACH','Network is unreachable.','The kernel has no route to the destination network (ENETUNREACH), or a router answered with ICMP ''network unreachable''. Typical causes: no default route, an IPv6 target on a host without IPv6 connectivity, or a policy-routing rule of type unreachable. Check `ip route get ADDR` (or `ip -6 route get ADDR`) and `ip rule`.',0);
INSERT INTO wsa_codes VALUES(10052,'WSAENETRESET','Network dropped connection on reset.','A connection was dropped because the network reported it broken (ENETRESET). Linux returns this rarely; keep-alive failures on TCP normally surface as ETIMEDOUT instead. Look for route or interface changes at that moment (`ip monitor`, the journal).',0);
INSERT INTO wsa_codes VALUES(10053,'WSAECONNABORTED','Software caused connection abort.','The local stack gave up on the connection (ECONNABORTED), or netdiagd did: a send probe whose peer replied without the bytes `expect` asks for, or closed before them, is filed here with raw REPLY_MISMATCH in phase verify (Windows words this code as a connection aborted by this host''s software, "possibly due to a data transmission time-out or protocol error"). For REPLY_MISMATCH the network is fine and the service answered wrongly: the detail shows what arrived (`got "HTTP/1.0 500 ..."`); check the service and the target''s `expect`. For ECONNABORTED, which on Linux mostly comes from accept() and is rare for a client, read it as a connection torn down on this host, for example under TCP memory pressure: check `nstat -az | grep -i abort` and `journalctl -k`.',0);
INSERT INTO wsa_codes VALUES(10054,'WSAECONNRESET','Connection reset by peer.','The peer or a middlebox sent a TCP RST on an established connection (ECONNRESET), or the probe wrote to a connection the peer had already closed (EPIPE). Typical causes: the service crashed or closed on purpose (for instance it rejected the payload), or a load balancer or firewall killed the flow. Check the service''s own logs, `ss -ti` on the server, and `reject with tcp reset` rules on the path.',0);
INSERT INTO wsa_codes VALUES(10055,'WSAENOBUFS','No buffer space available.','The kernel had no buffer space or a queue was full (ENOBUFS). On Linux this shows up on sends when the interface queue or qdisc overflows, or when socket memory limits are reached under load; plain out-of-memory (ENOMEM) is filed as WSA_NOT_ENOUGH_MEMORY instead. Check `ip -s link` for TX drops, `tc -s qdisc`, and the net.core.wmem_max and net.ipv4.udp_mem sysctls.',0);
INSERT INTO wsa_codes VALUES(10056,'WSAEISCONN','Socket is already connected.','connect() was called on a socket that is already connected (EISCONN). netdiagd connects each probe socket once, so this indicates a bug in the probe code rather than a network fault. Report it with the target''s section.',0);
INSERT INTO wsa_codes VALUES(10057,'WSAENOTCONN','Socket is not connected.','Data was sent or read on an unconnected socket, or on one whose connection is already gone (ENOTCONN). In netdiagd it typically follows a connection that broke between the connect phase and the send phase. Look at the phase of the failure and the preceding failures of the same target; a reset or a timeout usually comes first.',0);
INSERT INTO wsa_codes VALUES(10058,'WSAESHUTDOWN','Cannot send after socket shutdown.','A send happened after the sending direction had been shut down (ESHUTDOWN). netdiagd never writes after shutting a socket down, so this points at a probe bug; note that EPIPE from a connection the peer closed is filed under WSAECONNRESET, not here. Report it with the target''s section.',0);
INSERT INTO wsa_codes VALUES(10060,'WSAETIMEDOUT','Connection timed out.','No answer came in time: either the kernel gave up (ETIMEDOUT, e.g. SYN retransmissions exhausted) or, far more often, the probe''s own `timeout` expired in the phase shown. Silent drops cause it: a firewall that DROPs instead of rejecting, a host that is down, or a black-holed or congested path. Check `ping` or `mtr` to the address, drop rules on both ends (`nft list ruleset`), and `ss -tn state syn-sent` while the probe runs.',0);
INSERT INTO wsa_codes VALUES(10061,'WSAECONNREFUSED','Connection refused.','The destination answered the connection attempt with a TCP RST (ECONNREFUSED), or with ICMP ''port unreachable'', which Linux reports the same way for TCP and for connected UDP sockets. Usually nothing listens on that address and port (service stopped, crashed, or bound to another address, such as 127.0.0.1 versus ::1), or a firewall rejects with tcp-reset or port-unreachable. Check `ss -ltnp` (`ss -lunp` for UDP) on the server, the service''s `systemctl status`, and nft/iptables `reject` rules.',0);
INSERT INTO wsa_codes VALUES(10064,'WSAEHOSTDOWN','Host is down.','The destination host is reported down (EHOSTDOWN); Linux produces it when a router answers with ICMP ''destination host unknown''. It is rare, and in practice it means the same as WSAEHOSTUNREACH: the address is not reachable right now. Check `ip route get ADDR`, `mtr ADDR`, and whether the host is powered and addressed as expected.',0);
INSERT INTO wsa_codes VALUES(10065,'WSAEHOSTUNREACH','No route to host.','No way to reach the host (EHOSTUNREACH): for an address on the local subnet the neighbour lookup (ARP or NDP) got no reply, or a router or firewall sent ICMP ''host unreachable'' or ''administratively prohibited'' (firewalld''s default reject, or nftables `reject with icmpx admin-prohibited`). Check `ip neigh show ADDR` for FAILED or INCOMPLETE, `ip route get ADDR`, and reject rules on the path.',0);
INSERT INTO wsa_codes VALUES(10067,'WSAEPROCLIM','Too many processes.','Windows reports that too many applications are using its Windows Sockets implementation at once. Linux has no such limit and no errno for it (EPROCLIM exists only on BSD), so netdiagd never produces this code; it is listed so every code of the Windows table can be explained and joined in SQL.',0);
INSERT INTO wsa_codes VALUES(10091,'WSASYSNOTREADY','Network subsystem is unavailable.','Windows'' WSAStartup() found the networking subsystem unusable. Linux has no WSAStartup() and its socket API is always present, so netdiagd never produces this code; it is in the table only for completeness and for `netdiag explain`.',0);
INSERT INTO wsa_codes VALUES(10092,'WSAVERNOTSUPPORTED','Winsock.dll version out of range.','Windows'' WSAStartup() could not provide the Windows Sockets version an application asked for. There is no versioned socket library on Linux, so netdiagd never produces it; it is kept so the table matches the Windows list.',0);
INSERT INTO wsa_codes VALUES(10093,'WSANOTINITIALISED','Successful WSAStartup not yet performed.','A Windows program used a socket call before a successful WSAStartup(). Linux sockets need no initialisation step, so netdiagd never reports this code; it is listed so that Windows-side logs quoting it can be explained.',0);
INSERT INTO wsa_codes VALUES(10101,'WSAEDISCON','Graceful shutdown in progress.','Windows reports that the peer started an orderly close on a message-oriented socket. On Linux an orderly close is a read of zero bytes, not an error code, so no errno maps here (.NET uses this code for ESHUTDOWN; netdiag files ESHUTDOWN under WSAESHUTDOWN). netdiagd does not produce it from a raw errno.',0);
INSERT INTO wsa_codes VALUES(10104,'WSAINVALIDPROCTABLE','Invalid procedure table from service provider.','A Windows service provider DLL handed ws2_32 a broken function table. Linux has no Winsock service providers, so netdiagd never produces it; it is listed for completeness.',1);
INSERT INTO wsa_codes VALUES(10105,'WSAINVALIDPROVIDER','Invalid service provider version number.','A Windows service provider reported a version other than the one ws2_32 requires. No such provider layer exists on Linux, so netdiagd never produces it; it is listed for completeness.',1);
INSERT INTO wsa_codes VALUES(10106,'WSAPROVIDERFAILEDINIT','Unable to initialize a service provider.','A Windows service provider DLL could not be loaded or initialised, the classic symptom of a damaged Winsock catalog on Windows. Linux has no provider catalog, so netdiagd never produces it; it is listed for completeness.',1);
INSERT INTO wsa_codes VALUES(10107,'WSASYSCALLFAILURE','System call failure.','netdiag''s catch-all: the raw errno, EAI code or DNS outcome has no mapping of its own, or getaddrinfo returned EAI_SYSTEM (whose real cause is in errno). The raw value is stored next to the code, so look at the raw and raw_value columns (`netdiag failures`) and the detail text first. If the same raw value keeps coming back it deserves a mapping of its own.',1);
INSERT INTO wsa_codes VALUES(10109,'WSATYPE_NOT_FOUND','Class type not found.','Windows uses it when a service or class name is unknown. In netdiag it comes from getaddrinfo''s EAI_SERVICE: a port given as a service name that /etc/services does not know, or that does not exist for the chosen protocol. Use a numeric port or check `getent services NAME`.',0);
INSERT INTO wsa_codes VALUES(11001,'WSAHOST_NOT_FOUND','Host not found.','The name does not exist: EAI_NONAME from getaddrinfo, or an NXDOMAIN answer (to a resolve probe, or to netdiagd''s look-up of a host name, after every search domain). Typical causes are a typo in `host` or `name`, a missing /etc/hosts entry, a search domain that is not applied, or a zone that really lacks the name. Check `getent hosts NAME`, /etc/hosts, and ask the configured server directly with `dig @SERVER NAME`.',0);
INSERT INTO wsa_codes VALUES(11002,'WSATRY_AGAIN','Nonauthoritative host not found.','A temporary resolver failure: EAI_AGAIN, a SERVFAIL answer (from every nameserver asked), or a nameserver that stayed silent (raw TIMEOUT). Usually the recursive server cannot reach the authoritative ones, DNSSEC validation failed, or the configured nameserver is down or unreachable. Check `resolvectl status` or /etc/resolv.conf, then `dig @SERVER NAME` for the status and `dig +cd @SERVER NAME` to rule DNSSEC in or out.',0);
INSERT INTO wsa_codes VALUES(11003,'WSANO_RECOVERY','This is a nonrecoverable error.','The lookup failed in a way that retrying will not fix: EAI_FAIL, or a resolve probe that got REFUSED, FORMERR, NOTIMP, another error rcode, or an answer it could not parse. Typical causes: the server refuses recursion for this host (ACL), does not implement the query type, or a middlebox mangles DNS (a truncated answer whose TCP retry closed without one is MALFORMED). Check `dig @SERVER NAME TYPE` from this host and the server''s allow-query and allow-recursion settings.',0);
INSERT INTO wsa_codes VALUES(11004,'WSANO_DATA','Valid name, no data record of requested type.','The name exists but has no record of the asked type: EAI_NODATA or EAI_ADDRFAMILY, or a NOERROR answer without matching records in a resolve probe. The usual case is asking for AAAA (family = ipv6) for a host that only has an A record (or a name that /etc/hosts lists with IPv4 addresses only), or for A on a name that only has MX or TXT. Compare `dig NAME A` with `dig NAME AAAA` and `getent ahosts NAME`, and check the target''s `type` and `family`. A resolve probe whose answers lack its `expect` is filed here too, with raw MISMATCH in phase verify: the name has records of the type, just not the one expected; the detail lists what came.',0);
CREATE TABLE phases (
    phase INTEGER PRIMARY KEY,
    name  TEXT NOT NULL UNIQUE
);
INSERT INTO phases VALUES(0,'none');
INSERT INTO phases VALUES(1,'resolve');
INSERT INTO phases VALUES(2,'connect');
INSERT INTO phases VALUES(3,'send');
INSERT INTO phases VALUES(4,'recv');
INSERT INTO phases VALUES(5,'verify');
CREATE TABLE targets (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL,         -- 'connect' | 'resolve' | 'send'
    host        TEXT,                  -- connect, send
    port        INTEGER,               -- connect, send
    protocol    TEXT,                  -- send: 'udp' | 'tcp'
    qname       TEXT,                  -- resolve: the name asked
    qtype       TEXT,                  -- resolve: 'A', 'AAAA', ...
    server      TEXT,                  -- resolve: '127.0.0.1:53' or 'system'
    family      TEXT,                  -- 'any' | 'ipv4' | 'ipv6'
    interval_ms INTEGER,
    timeout_ms  INTEGER,
    created     INTEGER NOT NULL,      -- first configured
    updated     INTEGER NOT NULL,      -- definition last changed
    retired     INTEGER                -- removed from the configuration; NULL: active
);
INSERT INTO targets VALUES(1,'web','connect','127.0.0.1',35075,NULL,NULL,NULL,NULL,'any',100,50,1796682023935,1796682023935,NULL);
INSERT INTO targets VALUES(2,'refused','connect','127.0.0.1',1,NULL,NULL,NULL,NULL,'any',100,50,1796682023935,1796682023935,NULL);
CREATE TABLE raws (
    id   INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE          -- 'ECONNREFUSED', 'EAI_NONAME', 'SERVFAIL'
);
INSERT INTO raws VALUES(1,'ECONNREFUSED');
CREATE TABLE addrs (
    id   INTEGER PRIMARY KEY,
    addr TEXT NOT NULL UNIQUE          -- '127.0.0.1', '::1' (no brackets, no port)
);
INSERT INTO addrs VALUES(1,'127.0.0.1');
CREATE TABLE failures (
    ts             INTEGER NOT NULL,   -- attempt start
    target_id      INTEGER NOT NULL,   -- targets.id
    seq            INTEGER NOT NULL DEFAULT 0,
    phase          INTEGER NOT NULL,   -- phases.phase
    wsa_code       INTEGER NOT NULL,   -- wsa_codes.code
    raw_id         INTEGER,            -- raws.id
    raw_value      INTEGER,            -- errno, EAI value or DNS rcode
    detail         TEXT,
    latency_us     INTEGER,
    local_addr_id  INTEGER,            -- addrs.id
    local_port     INTEGER,            -- 40312
    remote_addr_id INTEGER,            -- addrs.id
    remote_port    INTEGER, batch INTEGER,            -- 8080
    PRIMARY KEY (ts, target_id, seq)
) WITHOUT ROWID;
INSERT INTO failures VALUES(1796682024028,2,0,2,10061,1,111,NULL,104,1,36936,1,1,1);
INSERT INTO failures VALUES(1796682024128,2,0,2,10061,1,111,NULL,117,1,36946,1,1,1);
INSERT INTO failures VALUES(1796682024229,2,0,2,10061,1,111,NULL,174,1,36948,1,1,1);
INSERT INTO failures VALUES(1796682024328,2,0,2,10061,1,111,NULL,98,1,36960,1,1,1);
INSERT INTO failures VALUES(1796682024428,2,0,2,10061,1,111,NULL,84,1,36972,1,1,1);
INSERT INTO failures VALUES(1796682024529,2,0,2,10061,1,111,NULL,121,1,36984,1,1,1);
INSERT INTO failures VALUES(1796682024628,2,0,2,10061,1,111,NULL,124,1,36986,1,1,1);
INSERT INTO failures VALUES(1796682024728,2,0,2,10061,1,111,NULL,94,1,36988,1,1,1);
INSERT INTO failures VALUES(1796682024829,2,0,2,10061,1,111,NULL,124,1,37000,1,1,1);
INSERT INTO failures VALUES(1796682024928,2,0,2,10061,1,111,NULL,112,1,37010,1,1,1);
INSERT INTO failures VALUES(1796682025028,2,0,2,10061,1,111,NULL,83,1,37018,1,1,2);
INSERT INTO failures VALUES(1796682025129,2,0,2,10061,1,111,NULL,109,1,37032,1,1,2);
INSERT INTO failures VALUES(1796682025228,2,0,2,10061,1,111,NULL,94,1,37036,1,1,2);
INSERT INTO failures VALUES(1796682025328,2,0,2,10061,1,111,NULL,115,1,37042,1,1,2);
INSERT INTO failures VALUES(1796682025428,2,0,2,10061,1,111,NULL,83,1,37056,1,1,2);
INSERT INTO failures VALUES(1796682025528,2,0,2,10061,1,111,NULL,95,1,37072,1,1,2);
INSERT INTO failures VALUES(1796682025628,2,0,2,10061,1,111,NULL,107,1,37078,1,1,2);
INSERT INTO failures VALUES(1796682025728,2,0,2,10061,1,111,NULL,83,1,37082,1,1,2);
INSERT INTO failures VALUES(1796682025828,2,0,2,10061,1,111,NULL,107,1,37092,1,1,2);
INSERT INTO failures VALUES(1796682025928,2,0,2,10061,1,111,NULL,90,1,37098,1,1,2);
INSERT INTO failures VALUES(1796682026028,2,0,2,10061,1,111,NULL,101,1,37114,1,1,2);
INSERT INTO failures VALUES(1796682026128,2,0,2,10061,1,111,NULL,112,1,37130,1,1,3);
INSERT INTO failures VALUES(1796682026228,2,0,2,10061,1,111,NULL,86,1,37132,1,1,3);
INSERT INTO failures VALUES(1796682026328,2,0,2,10061,1,111,NULL,93,1,37142,1,1,3);
INSERT INTO failures VALUES(1796682026428,2,0,2,10061,1,111,NULL,89,1,37156,1,1,3);
INSERT INTO failures VALUES(1796682026528,2,0,2,10061,1,111,NULL,99,1,37160,1,1,3);
INSERT INTO failures VALUES(1796682026629,2,0,2,10061,1,111,NULL,135,1,37164,1,1,3);
INSERT INTO failures VALUES(1796682026729,2,0,2,10061,1,111,NULL,127,1,37178,1,1,3);
INSERT INTO failures VALUES(1796682026828,2,0,2,10061,1,111,NULL,146,1,37180,1,1,3);
INSERT INTO failures VALUES(1796682026928,2,0,2,10061,1,111,NULL,105,1,37192,1,1,3);
INSERT INTO failures VALUES(1796682027028,2,0,2,10061,1,111,NULL,86,1,37202,1,1,3);
INSERT INTO failures VALUES(1796682027128,2,0,2,10061,1,111,NULL,84,1,37212,1,1,4);
INSERT INTO failures VALUES(1796682027228,2,0,2,10061,1,111,NULL,74,1,37222,1,1,4);
INSERT INTO failures VALUES(1796682027328,2,0,2,10061,1,111,NULL,86,1,37228,1,1,4);
INSERT INTO failures VALUES(1796682027428,2,0,2,10061,1,111,NULL,45,1,37242,1,1,4);
INSERT INTO failures VALUES(1796682027528,2,0,2,10061,1,111,NULL,83,1,37250,1,1,4);
INSERT INTO failures VALUES(1796682027628,2,0,2,10061,1,111,NULL,65,1,37254,1,1,4);
INSERT INTO failures VALUES(1796682027728,2,0,2,10061,1,111,NULL,57,1,34624,1,1,4);
INSERT INTO failures VALUES(1796682027828,2,0,2,10061,1,111,NULL,50,1,34636,1,1,4);
CREATE TABLE commits (
    id        INTEGER PRIMARY KEY AUTOINCREMENT,
    ts_min    INTEGER NOT NULL,        -- the oldest ts of its rows
    ts_max    INTEGER NOT NULL,        -- the newest ts of its rows
    rows      INTEGER NOT NULL,        -- failure rows it stored
    committed INTEGER NOT NULL         -- when it was written (ms)
);
INSERT INTO commits VALUES(1,1796682024028,1796682024928,10,1796682025013);
INSERT INTO commits VALUES(2,1796682025028,1796682026028,11,1796682026029);
INSERT INTO commits VALUES(3,1796682026128,1796682027028,10,1796682027111);
INSERT INTO commits VALUES(4,1796682027128,1796682027828,8,1796682027897);
CREATE TABLE rollup_minute (
    minute         INTEGER NOT NULL,
    target_id      INTEGER NOT NULL,
    attempts       INTEGER NOT NULL,
    successes      INTEGER NOT NULL,
    failures       INTEGER NOT NULL,
    latency_count  INTEGER NOT NULL,
    latency_sum_us INTEGER NOT NULL,
    latency_min_us INTEGER,
    latency_max_us INTEGER,
    PRIMARY KEY (minute, target_id)
) WITHOUT ROWID;
INSERT INTO rollup_minute VALUES(1796682000000,1,39,39,0,39,5093,95,231);
INSERT INTO rollup_minute VALUES(1796682000000,2,39,0,39,0,0,NULL,NULL);
CREATE TABLE rollup_minute_code (
    minute    INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    wsa_code  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (minute, target_id, wsa_code)
) WITHOUT ROWID;
INSERT INTO rollup_minute_code VALUES(1796682000000,2,10061,39);
CREATE TABLE rollup_hour (
    hour           INTEGER NOT NULL,
    target_id      INTEGER NOT NULL,
    attempts       INTEGER NOT NULL,
    successes      INTEGER NOT NULL,
    failures       INTEGER NOT NULL,
    latency_count  INTEGER NOT NULL,
    latency_sum_us INTEGER NOT NULL,
    latency_min_us INTEGER,
    latency_max_us INTEGER,
    PRIMARY KEY (hour, target_id)
) WITHOUT ROWID;
INSERT INTO rollup_hour VALUES(1796680800000,1,39,39,0,39,5093,95,231);
INSERT INTO rollup_hour VALUES(1796680800000,2,39,0,39,0,0,NULL,NULL);
CREATE TABLE rollup_hour_code (
    hour      INTEGER NOT NULL,
    target_id INTEGER NOT NULL,
    wsa_code  INTEGER NOT NULL,
    count     INTEGER NOT NULL,
    PRIMARY KEY (hour, target_id, wsa_code)
) WITHOUT ROWID;
INSERT INTO rollup_hour_code VALUES(1796680800000,2,10061,39);
CREATE TABLE alerts (
    id            INTEGER PRIMARY KEY,
    target_id     INTEGER,             -- targets.id; NULL: host-wide
    wsa_code      INTEGER NOT NULL,
    started       INTEGER NOT NULL,
    resolved      INTEGER,             -- NULL while firing
    count         INTEGER,             -- failures in the window that fired
    peak          INTEGER,             -- highest count in a window while firing
    baseline      REAL,                -- expected count per window when it fired
    attempts      INTEGER,             -- attempts in the window that fired
    last_notified INTEGER,             -- last exec / Alertmanager notification
    detail        TEXT
);
CREATE TABLE runs (
    id          INTEGER PRIMARY KEY,  -- one row per start of netdiagd
    pid         INTEGER NOT NULL,
    hostname    TEXT NOT NULL,
    version     TEXT NOT NULL,        -- '0.1.0'
    config      TEXT NOT NULL,        -- absolute path of the config file
    started     INTEGER NOT NULL,     -- ms since the epoch, UTC
    heartbeat   INTEGER NOT NULL,     -- ms; rewritten at least every 2 s
    stopped     INTEGER,              -- ms of a clean stop; NULL while
                                      -- running and after a crash
    results     INTEGER NOT NULL DEFAULT 0, -- the daemon's own counters
    failures    INTEGER NOT NULL DEFAULT 0, -- since this start (as on its
    dropped     INTEGER NOT NULL DEFAULT 0, -- exit line)
    targets     INTEGER NOT NULL DEFAULT 0  -- targets configured now
);
INSERT INTO runs VALUES(1,13036,'vm','0.1.0','/tmp/latx/v4run/nd.ini',1796682023904,1796682027897,1796682027897,78,39,0,2);
DELETE FROM sqlite_sequence;
INSERT INTO sqlite_sequence VALUES('commits',4);
CREATE INDEX wsa_codes_name ON wsa_codes (name);
CREATE INDEX failures_target_ts ON failures (target_id, ts);
CREATE INDEX failures_code_ts ON failures (wsa_code, ts);
CREATE INDEX rollup_minute_target ON rollup_minute (target_id, minute);
CREATE INDEX rollup_hour_target ON rollup_hour (target_id, hour);
CREATE INDEX alerts_started ON alerts (started);
CREATE INDEX alerts_target ON alerts (target_id, started);
CREATE VIEW failures_v AS
SELECT f.ts AS ts,
       strftime('%Y-%m-%dT%H:%M:%fZ', f.ts / 1000.0, 'unixepoch') AS time,
       f.target_id AS target_id,
       t.name AS target,
       t.kind AS kind,
       p.name AS phase,
       f.wsa_code AS wsa_code,
       c.name AS wsa_name,
       c.meaning AS meaning,
       r.name AS raw,
       f.raw_value AS raw_value,
       f.detail AS detail,
       f.latency_us AS latency_us,
       CASE WHEN f.local_port IS NULL THEN la.addr
            WHEN instr(la.addr, ':') THEN '[' || la.addr || ']:' || f.local_port
            ELSE la.addr || ':' || f.local_port END AS local,
       CASE WHEN f.remote_port IS NULL THEN ra.addr
            WHEN instr(ra.addr, ':') THEN '[' || ra.addr || ']:' || f.remote_port
            ELSE ra.addr || ':' || f.remote_port END AS remote
FROM failures AS f
LEFT JOIN targets AS t ON t.id = f.target_id
LEFT JOIN phases AS p ON p.phase = f.phase
LEFT JOIN wsa_codes AS c ON c.code = f.wsa_code
LEFT JOIN raws AS r ON r.id = f.raw_id
LEFT JOIN addrs AS la ON la.id = f.local_addr_id
LEFT JOIN addrs AS ra ON ra.id = f.remote_addr_id;
CREATE VIEW rollup_minute_v AS
SELECT r.minute AS minute,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.minute / 1000, 'unixepoch') AS time,
       r.target_id AS target_id,
       t.name AS target,
       t.kind AS kind,
       r.attempts AS attempts,
       r.successes AS successes,
       r.failures AS failures,
       CAST(r.failures AS REAL) / NULLIF(r.attempts, 0) AS failure_ratio,
       r.latency_sum_us / NULLIF(r.latency_count, 0) AS latency_avg_us,
       r.latency_min_us AS latency_min_us,
       r.latency_max_us AS latency_max_us
FROM rollup_minute AS r
LEFT JOIN targets AS t ON t.id = r.target_id;
CREATE VIEW rollup_hour_v AS
SELECT r.hour AS hour,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.hour / 1000, 'unixepoch') AS time,
       r.target_id AS target_id,
       t.name AS target,
       t.kind AS kind,
       r.attempts AS attempts,
       r.successes AS successes,
       r.failures AS failures,
       CAST(r.failures AS REAL) / NULLIF(r.attempts, 0) AS failure_ratio,
       r.latency_sum_us / NULLIF(r.latency_count, 0) AS latency_avg_us,
       r.latency_min_us AS latency_min_us,
       r.latency_max_us AS latency_max_us
FROM rollup_hour AS r
LEFT JOIN targets AS t ON t.id = r.target_id;
CREATE VIEW rollup_minute_code_v AS
SELECT r.minute AS minute,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.minute / 1000, 'unixepoch') AS time,
       r.target_id AS target_id,
       t.name AS target,
       r.wsa_code AS wsa_code,
       c.name AS wsa_name,
       r.count AS count
FROM rollup_minute_code AS r
LEFT JOIN targets AS t ON t.id = r.target_id
LEFT JOIN wsa_codes AS c ON c.code = r.wsa_code;
CREATE VIEW rollup_hour_code_v AS
SELECT r.hour AS hour,
       strftime('%Y-%m-%dT%H:%M:%SZ', r.hour / 1000, 'unixepoch') AS time,
       r.target_id AS target_id,
       t.name AS target,
       r.wsa_code AS wsa_code,
       c.name AS wsa_name,
       r.count AS count
FROM rollup_hour_code AS r
LEFT JOIN targets AS t ON t.id = r.target_id
LEFT JOIN wsa_codes AS c ON c.code = r.wsa_code;
CREATE VIEW alerts_v AS
SELECT a.id AS id,
       a.target_id AS target_id,
       t.name AS target,
       a.wsa_code AS wsa_code,
       c.name AS wsa_name,
       c.meaning AS meaning,
       a.started AS started,
       strftime('%Y-%m-%dT%H:%M:%fZ', a.started / 1000.0, 'unixepoch') AS started_time,
       a.resolved AS resolved,
       strftime('%Y-%m-%dT%H:%M:%fZ', a.resolved / 1000.0, 'unixepoch') AS resolved_time,
       a.count AS count,
       a.peak AS peak,
       a.baseline AS baseline,
       a.attempts AS attempts,
       a.last_notified AS last_notified,
       a.detail AS detail
FROM alerts AS a
LEFT JOIN targets AS t ON t.id = a.target_id
LEFT JOIN wsa_codes AS c ON c.code = a.wsa_code;
COMMIT;
