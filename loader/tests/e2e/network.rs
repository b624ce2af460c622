//! Network events with real traffic, only inside network namespaces the tests create (their
//! loopback): a DNS server and an HTTP server started by the test,
//! queries by dig, getent and Python, requests by curl and Python. Each packet is decided
//! for the process that owns its socket: scope by uid, by comm and by a container-like
//! cgroup, filters on addresses, ports, DNS names and HTTP parts, all in the kernel.

use serde_json::Value;

use crate::harness::*;

/// A DNS server on 127.0.0.1:53 of its network namespace (comm `tr-dns-srv`): every name
/// gets `A 10.1.2.3`; `www.*` first a CNAME to `edge.<the rest>`, written with compression
/// pointers into the question. It writes `ready` once bound.
const DNS_SERVER: &str = r#"
import ctypes, socket, struct, sys
ctypes.CDLL(None).prctl(15, b"tr-dns-srv", 0, 0, 0)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
open(sys.argv[1], "w").close()
while True:
    data, peer = s.recvfrom(512)
    tid = struct.unpack(">H", data[:2])[0]
    end = 12
    while data[end]:
        end += data[end] + 1
    question = data[12:end + 5]
    answers, count = b"", 0
    a_owner = b"\xc0\x0c"
    if data[13:17] == b"www\x04" or data[12:16] == b"\x03www":
        # CNAME www.X -> edge.X: "edge" then a pointer to X in the question (offset 16).
        rdata = b"\x04edge\xc0\x10"
        answers += b"\xc0\x0c" + struct.pack(">HHIH", 5, 1, 60, len(rdata)) + rdata
        count += 1
        a_owner = struct.pack(">H", 0xc000 | (12 + len(question) + 12))
    answers += a_owner + struct.pack(">HHIH", 1, 1, 60, 4) + bytes([10, 1, 2, 3])
    count += 1
    header = struct.pack(">HHHHHH", tid, 0x8180, 1, count, 0, 0)
    s.sendto(header + question + answers, peer)
"#;

/// A DNS client (comm `tr-dns-cli`): one A query to 127.0.0.1:53 per name, each from a new
/// socket, waiting for the answer.
const DNS_CLIENT: &str = r#"
import ctypes, socket, struct, sys
ctypes.CDLL(None).prctl(15, b"tr-dns-cli", 0, 0, 0)
for i, name in enumerate(sys.argv[1:]):
    q = struct.pack(">HHHHHH", 0x4100 + i, 0x0100, 1, 0, 0, 0)
    q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0"
    q += struct.pack(">HH", 1, 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
    s.sendto(q, ("127.0.0.1", 53))
    s.recv(512)
"#;

fn write_script(s: &Scratch, name: &str, body: &str) -> String {
    let path = s.path().join(name);
    if let Err(e) = std::fs::write(&path, body) {
        panic!("write {}: {e}", path.display());
    }
    path.to_string_lossy().into_owned()
}

/// The shell lines that start `server` (a Python script that creates `ready` once it
/// listens) in the background, stop it when the script ends, and wait for it.
fn server_lines(server: &str, ready: &std::path::Path) -> String {
    format!(
        "python3 {server} {ready} &\nSERVER=$!\ntrap 'kill $SERVER' EXIT\ni=0; while [ ! -e {ready} ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done\n",
        ready = ready.display()
    )
}

/// Runs `script` with `sh -e` in a new network namespace whose loopback is up.
fn in_netns(script: &str) {
    run(
        "unshare",
        &["-n", "sh", "-ec", &format!("ip link set lo up\n{script}")],
    );
}

/// A container-like cgroup (`docker-<id>.scope`) under the cgroup v2 root, removed on drop.
struct ContainerCgroup {
    base: std::path::PathBuf,
    dir: std::path::PathBuf,
}

impl ContainerCgroup {
    fn new(tag: &str) -> ContainerCgroup {
        let base = cgroup_v2().join(format!("tracee-e2e-{tag}-{}", std::process::id()));
        let dir = base.join(format!("docker-{:064x}.scope", 0x6e65_7477_6f72_6be2_u128));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            panic!("create {}: {e}", dir.display());
        }
        ContainerCgroup { base, dir }
    }

    fn id(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        std::fs::metadata(&self.dir).map_or(0, |m| m.ino())
    }
}

impl Drop for ContainerCgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
        let _ = std::fs::remove_dir(&self.base);
    }
}

fn require(tool: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()));
    assert!(
        found,
        "`{tool}` is missing: install {package} (scripts/deps.sh does)"
    );
}

/// The DNS question name of a dns request or response event.
fn question(event: &Value) -> String {
    let q = arg(event, "dns_questions")
        .and_then(|v| v.get(0))
        .and_then(|q| q.get("query"))
        .or_else(|| {
            arg(event, "dns_response")
                .and_then(|v| v.get(0))
                .and_then(|r| r.pointer("/query_data/query"))
        })
        .or_else(|| arg(event, "proto_dns").and_then(|d| d.pointer("/questions/0/name")));
    q.and_then(Value::as_str).unwrap_or_default().to_owned()
}

/// dig as `processName` shows it: its sockets belong to its network thread, `isc-net-NNNN`
/// (the comm is the thread's name), which `questions` reports as dig.
fn dig_comm() -> &'static str {
    "dig"
}

fn comm_of(event: &Value) -> String {
    let comm = event["processName"].as_str().unwrap_or_default();
    if comm.starts_with("isc-net-") {
        return dig_comm().to_owned();
    }
    comm.to_owned()
}

fn ours(name: &str) -> bool {
    name.ends_with(".test") || name.ends_with(".test.evil")
}

/// `event`s matched by `policy` whose question is one of the test's: (name, comm) pairs,
/// sorted.
fn questions(run: &Run, event: &str, policy: &str) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = run
        .named(event)
        .into_iter()
        .filter(|e| policies_of(e).iter().any(|p| p == policy))
        .map(|e| (question(e), comm_of(e)))
        .filter(|(q, _)| ours(q))
        .collect();
    found.sort();
    found.dedup();
    found
}

/// DNS queries by dig, getent (the C library's resolver, pointed at the test's server by a
/// resolv.conf mounted in a private mount namespace) and Python, from root, from uid 65534
/// and from a container-like cgroup; answers from the test's server with a CNAME chain.
/// Question names are filtered in the kernel (suffix and exact), scopes decided for the
/// socket's owner, and the near misses (`example.test.evil`, `other.test`, queries out of
/// scope) are never printed.
#[test]
fn dns_questions_answers_and_owners() {
    if !can_bpf() {
        return;
    }
    require("dig", "dnsutils");
    require("getent", "libc-bin");
    let s = Scratch::new();
    let cg = ContainerCgroup::new("dns");
    let policies = [
        (
            "dns.yaml",
            policy(
                "dns",
                &["global"],
                &format!(
                    "{}{}",
                    rule(
                        "net_packet_dns_request",
                        &["data.dns_questions=*.example.test"]
                    ),
                    rule(
                        "net_packet_dns_response",
                        &["data.dns_response=*.example.test"]
                    ),
                ),
            ),
        ),
        (
            "nobody.yaml",
            policy(
                "dns-nobody",
                &["uid=65534"],
                "    - event: net_packet_dns_request\n",
            ),
        ),
        (
            "box.yaml",
            policy(
                "dns-box",
                &["container"],
                "    - event: net_packet_dns_request\n",
            ),
        ),
        (
            "box-rule.yaml",
            policy(
                "dns-box-rule",
                &["global"],
                &rule("net_packet_dns_request", &["container=true"]),
            ),
        ),
        (
            "exact.yaml",
            policy(
                "dns-exact",
                &["global"],
                &rule("net_packet_dns", &["data.proto_dns=www.example.test"]),
            ),
        ),
    ];
    let docs: Vec<(&str, &str)> = policies.iter().map(|(f, t)| (*f, t.as_str())).collect();
    let image = compile(s.path(), &docs);
    let server = write_script(&s, "dns-server.py", DNS_SERVER);
    let client = write_script(&s, "dns-client.py", DNS_CLIENT);
    let resolv = s.path().join("resolv.conf");
    if let Err(e) = std::fs::write(
        &resolv,
        "nameserver 127.0.0.1\noptions attempts:1 timeout:2\n",
    ) {
        panic!("{e}");
    }
    let ready = s.path().join("ready");
    let t = Tracer::start(&image, &[]);
    in_netns(&format!(
        r#"{start}
dig @127.0.0.1 +tries=1 +time=3 +short www.example.test A
unshare -m --propagation private sh -ec 'mount --bind {resolv} /etc/resolv.conf; getent hosts nss.example.test'
python3 {client} api.example.test example.test.evil other.test
setpriv --reuid 65534 --regid 65534 --clear-groups /usr/bin/python3 {client} nobody.example.test root-only.test
sh -c 'echo $$ > {procs} && exec python3 {client} box.example.test'
python3 {client} host.example.test
"#,
        start = server_lines(&server, &ready),
        resolv = resolv.display(),
        procs = cg.dir.join("cgroup.procs").display(),
    ));
    let run = t.stop();
    run.assert_clean();
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = v
            .iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect();
        v.sort();
        v
    };
    // Requests: every query under example.test, leaving the process that sent it and
    // reaching the server's socket; no near miss.
    let senders = [
        ("api.example.test", "tr-dns-cli"),
        ("box.example.test", "tr-dns-cli"),
        ("host.example.test", "tr-dns-cli"),
        ("nobody.example.test", "tr-dns-cli"),
        ("nss.example.test", "getent"),
        ("www.example.test", dig_comm()),
    ];
    let mut expected = senders.to_vec();
    expected.extend(senders.iter().map(|(name, _)| (*name, "tr-dns-srv")));
    assert_eq!(
        questions(&run, "net_packet_dns_request", "dns"),
        pairs(&expected),
        "{:#?}",
        run.events
    );
    // Responses: sent by the server (its socket), received by each client (theirs).
    let responses = questions(&run, "net_packet_dns_response", "dns");
    for (name, comm) in [
        ("api.example.test", "tr-dns-srv"),
        ("api.example.test", "tr-dns-cli"),
        ("www.example.test", dig_comm()),
        ("nss.example.test", "getent"),
    ] {
        assert!(
            responses.contains(&(name.to_owned(), comm.to_owned())),
            "{name} by {comm}: {responses:?}"
        );
    }
    assert!(responses.iter().all(|(q, _)| q.ends_with(".example.test")));
    // The answers, decoded in full: www's CNAME chain, api's address.
    let www = run
        .named("net_packet_dns_response")
        .into_iter()
        .find(|e| question(e) == "www.example.test" && comm_of(e) == dig_comm())
        .unwrap_or_else(|| panic!("no response to dig: {:#?}", run.events));
    let answers = arg(www, "dns_response")
        .and_then(|r| r.pointer("/0/dns_answer"))
        .cloned()
        .unwrap_or(Value::Null);
    let answers: Vec<(String, String)> = answers
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["answer_type"].as_str().unwrap_or_default().to_owned(),
                        x["answer"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        answers,
        [
            ("CNAME".to_owned(), "edge.example.test".to_owned()),
            ("A".to_owned(), "10.1.2.3".to_owned())
        ],
        "{www:#}"
    );
    // Scopes, decided for the socket's owner: uid 65534 only, the container only.
    assert_eq!(
        questions(&run, "net_packet_dns_request", "dns-nobody"),
        pairs(&[
            ("nobody.example.test", "tr-dns-cli"),
            ("root-only.test", "tr-dns-cli")
        ])
    );
    let nobody: Vec<&Value> = run
        .named("net_packet_dns_request")
        .into_iter()
        .filter(|e| question(e) == "nobody.example.test" && e["processName"] == "tr-dns-cli")
        .collect();
    assert!(!nobody.is_empty() && nobody.iter().all(|e| e["userId"] == 65534));
    assert_eq!(
        questions(&run, "net_packet_dns_request", "dns-box"),
        pairs(&[("box.example.test", "tr-dns-cli")])
    );
    // A rule's `container` field is the socket owner's too: the box's query leaving it,
    // not the server's copy, received while the box's process may be the one interrupted.
    assert_eq!(
        questions(&run, "net_packet_dns_request", "dns-box-rule"),
        pairs(&[("box.example.test", "tr-dns-cli")])
    );
    let boxed = run
        .named("net_packet_dns_request")
        .into_iter()
        .find(|e| question(e) == "box.example.test" && e["processName"] == "tr-dns-cli")
        .unwrap_or_else(|| panic!("no box query"));
    assert_eq!(boxed["cgroupId"].as_u64(), Some(cg.id()));
    // An exact name on net_packet_dns: www's query and answer, nothing else.
    let exact = questions(&run, "net_packet_dns", "dns-exact");
    assert!(
        !exact.is_empty() && exact.iter().all(|(q, _)| q == "www.example.test"),
        "{exact:?}"
    );
}

/// HTTP requests by curl and Python to a server the test starts, filtered in the kernel on
/// the method, the path prefix and the Host header's suffix; responses scoped to the
/// server's own sockets by its comm. Each near miss differs from the match in one part.
#[test]
fn http_requests_filtered_on_method_path_and_host() {
    if !can_bpf() {
        return;
    }
    require("curl", "curl");
    let s = Scratch::new();
    let image = compile(
        s.path(),
        &[
            (
                "web.yaml",
                &policy(
                    "web",
                    &["global"],
                    &rule(
                        "net_packet_http_request",
                        &[
                            "data.http_request.method=POST",
                            "data.http_request.uri_path=/api/*",
                            "data.http_request.host=*.example.test",
                        ],
                    ),
                ),
            ),
            (
                "server.yaml",
                &policy(
                    "web-server",
                    &["comm=tr-http-srv"],
                    "    - event: net_packet_http_response\n",
                ),
            ),
        ],
    );
    let server = write_script(
        &s,
        "http-server.py",
        r#"
import ctypes, http.server, sys
ctypes.CDLL(None).prctl(15, b"tr-http-srv", 0, 0, 0)
class H(http.server.BaseHTTPRequestHandler):
    def reply(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(n)
        body = b"ok\n"
        self.send_response(201 if self.command == "POST" else 200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    do_GET = do_POST = reply
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 8080), H)
open(sys.argv[1], "w").close()
srv.serve_forever()
"#,
    );
    let ready = s.path().join("ready");
    let t = Tracer::start(&image, &[]);
    let curl = "curl -s -o /dev/null --resolve api.example.test:8080:127.0.0.1 --resolve evil.test:8080:127.0.0.1";
    in_netns(&format!(
        r#"{start}
{curl} -X POST -d x 'http://api.example.test:8080/api/v1/items?page=2'
{curl} 'http://api.example.test:8080/api/v1/items'
{curl} -X POST -d x 'http://api.example.test:8080/web/form'
{curl} -X POST -d x 'http://evil.test:8080/api/v1/items'
python3 -c '
import http.client
c = http.client.HTTPConnection("127.0.0.1", 8080)
c.request("POST", "/api/py", body="x", headers={{"Host": "Py.Example.Test"}})
c.getresponse().read()
'
"#,
        start = server_lines(&server, &ready),
    ));
    let run = t.stop();
    run.assert_clean();
    let requests: Vec<(String, String, String, String)> = run
        .named("net_packet_http_request")
        .into_iter()
        .filter(|e| policies_of(e).contains(&"web".to_owned()))
        .map(|e| {
            let r = arg(e, "http_request").cloned().unwrap_or(Value::Null);
            let text = |k: &str| r[k].as_str().unwrap_or_default().to_owned();
            (
                text("method"),
                text("host"),
                text("uri_path"),
                e["processName"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let mut got = requests.clone();
    got.sort();
    got.dedup();
    let want = |m: &str, h: &str, p: &str, c: &str| {
        (m.to_owned(), h.to_owned(), p.to_owned(), c.to_owned())
    };
    // Each request is seen leaving the client and reaching the server's socket.
    assert_eq!(
        got,
        [
            want("POST", "Py.Example.Test", "/api/py", "python3"),
            want("POST", "Py.Example.Test", "/api/py", "tr-http-srv"),
            want("POST", "api.example.test:8080", "/api/v1/items", "curl"),
            want(
                "POST",
                "api.example.test:8080",
                "/api/v1/items",
                "tr-http-srv"
            ),
        ],
        "{:#?}",
        run.events
    );
    // Responses for the server's scope: only those leaving its sockets.
    let responses: Vec<&Value> = run
        .named("net_packet_http_response")
        .into_iter()
        .filter(|e| policies_of(e).contains(&"web-server".to_owned()))
        .collect();
    assert_eq!(responses.len(), 5, "{responses:#?}");
    assert!(responses.iter().all(|e| e["processName"] == "tr-http-srv"));
    let mut codes: Vec<i64> = responses
        .iter()
        .filter_map(|e| arg(e, "http_response").and_then(|r| r["status_code"].as_i64()))
        .collect();
    codes.sort_unstable();
    assert_eq!(codes, [200, 201, 201, 201, 201]);
}

/// Packets filtered on addresses (a CIDR block and its neighbour, both on loopback),
/// on ports (IPv4 and IPv6 loopback), ICMP and ICMPv6 echoes, TCP connects filtered on their
/// destination, and the flows' begin and end with their direction, all from Python.
#[test]
fn packets_flows_and_connects() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let rules = [
        rule("net_packet_udp", &["data.dst=10.99.0.0/16"]),
        rule(
            "net_packet_tcp",
            &["data.dst_port=8081", "data.src_port!=22"],
        ),
        "    - event: net_packet_icmp\n".to_owned(),
        "    - event: net_packet_icmpv6\n".to_owned(),
        rule(
            "net_tcp_connect",
            &["data.dst=127.0.0.1", "data.dst_port=8081"],
        ),
        rule("net_flow_tcp_begin", &["data.dst_port=8081"]),
        rule("net_flow_tcp_end", &["data.dst_port=8081"]),
    ]
    .concat();
    let image = compile(
        s.path(),
        &[("pk.yaml", &policy("pk", &["comm=tr-net-pk"], &rules))],
    );
    let script = write_script(
        &s,
        "packets.py",
        r#"
import ctypes, socket, struct, time
ctypes.CDLL(None).prctl(15, b"tr-net-pk", 0, 0, 0)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"in-block", ("10.99.0.1", 9999))
u.sendto(b"neighbour", ("10.98.0.1", 9999))
for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    for port in (8081, 8082):
        l = socket.socket(family)
        l.bind((host, port))
        l.listen()
        c = socket.socket(family)
        c.connect((host, port))
        a, _ = l.accept()
        c.send(b"hello")
        a.recv(16)
        c.close()
        a.close()
        l.close()
def echo(family, proto, kind, host):
    r = socket.socket(family, socket.SOCK_RAW, proto)
    r.settimeout(2)
    body = struct.pack(">BBHHH", kind, 0, 0, 0x7472, 1) + b"ping"
    if family == socket.AF_INET:
        csum = sum(struct.unpack(">%dH" % (len(body) // 2), body))
        csum = (csum >> 16) + (csum & 0xffff)
        csum = ~(csum + (csum >> 16)) & 0xffff
        body = body[:2] + struct.pack(">H", csum) + body[4:]
    r.sendto(body, (host, 0))
    r.recv(128)
echo(socket.AF_INET, socket.IPPROTO_ICMP, 8, "127.0.0.1")
echo(socket.AF_INET6, socket.IPPROTO_ICMPV6, 128, "::1")
time.sleep(0.2)
"#,
    );
    let t = Tracer::start(&image, &[]);
    in_netns(&format!(
        r#"
ip addr add 10.99.0.1/16 dev lo
ip addr add 10.98.0.1/16 dev lo
python3 {script}
python3 -c 'import socket; socket.create_connection(("127.0.0.1", 9), 1)' || true
"#
    ));
    let run = t.stop();
    run.assert_clean();
    let mine: Vec<&Value> = run
        .events
        .iter()
        .filter(|e| e["processName"] == "tr-net-pk")
        .collect();
    let of = |name: &str| -> Vec<&Value> {
        mine.iter()
            .copied()
            .filter(|e| e["eventName"] == name)
            .collect()
    };
    let text = |e: &Value, k: &str| arg_str(e, k).unwrap_or_default();
    // UDP: the block's destination, never its neighbour.
    let udp = of("net_packet_udp");
    assert_eq!(udp.len(), 1, "{udp:#?}");
    assert_eq!(
        (text(udp[0], "dst"), arg(udp[0], "dst_port").cloned()),
        ("10.99.0.1".to_owned(), Some(Value::from(9999)))
    );
    // TCP to port 8081 over IPv4 and IPv6, both ways; never 8082.
    let tcp = of("net_packet_tcp");
    let ends = |e: &Value| {
        (
            arg(e, "src_port").and_then(Value::as_u64).unwrap_or(0),
            arg(e, "dst_port").and_then(Value::as_u64).unwrap_or(0),
        )
    };
    assert!(tcp.iter().all(|e| ends(e).1 == 8081), "{tcp:#?}");
    for dst in ["127.0.0.1", "::1"] {
        let n = tcp.iter().filter(|e| text(e, "dst") == dst).count();
        // The handshake, data, acks and teardown: each segment seen leaving and arriving.
        assert!(n >= 6, "{dst}: {n} segments: {tcp:#?}");
    }
    let syn = tcp
        .iter()
        .find(|e| arg(e, "proto_tcp").is_some_and(|t| t["SYN"] == 1 && t["ACK"] == 0))
        .unwrap_or_else(|| panic!("no SYN: {tcp:#?}"));
    assert_eq!(
        arg(syn, "metadata").map(|m| m["direction"].clone()),
        Some(Value::from(2))
    );
    // ICMP and ICMPv6 echoes: the request out and the reply back.
    for (event, field, request, reply) in [
        ("net_packet_icmp", "proto_icmp", "EchoRequest", "EchoReply"),
        (
            "net_packet_icmpv6",
            "proto_icmpv6",
            "EchoRequest",
            "EchoReply",
        ),
    ] {
        let kinds: Vec<String> = of(event)
            .iter()
            .filter_map(|e| {
                arg(e, field)
                    .and_then(|p| p["typeCode"].as_str())
                    .map(str::to_owned)
            })
            .collect();
        assert!(
            kinds.iter().any(|k| k.starts_with(request))
                && kinds.iter().any(|k| k.starts_with(reply)),
            "{event}: {kinds:?}"
        );
    }
    // Connects to 127.0.0.1:8081 only (not ::1, not 8082, not the refused port 9).
    let connects: Vec<(String, u64)> = of("net_tcp_connect")
        .iter()
        .map(|e| {
            (
                text(e, "dst"),
                arg(e, "dst_port").and_then(Value::as_u64).unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(connects, [("127.0.0.1".to_owned(), 8081)]);
    // Flows: one outgoing and one incoming begin and end per family, to port 8081.
    for event in ["net_flow_tcp_begin", "net_flow_tcp_end"] {
        let mut flows: Vec<(String, String, u64)> = of(event)
            .iter()
            .map(|e| {
                (
                    text(e, "conn_direction"),
                    text(e, "dst"),
                    arg(e, "dst_port").and_then(Value::as_u64).unwrap_or(0),
                )
            })
            .collect();
        flows.sort();
        let f = |d: &str, a: &str| (d.to_owned(), a.to_owned(), 8081);
        assert_eq!(
            flows,
            [
                f("incoming", "127.0.0.1"),
                f("incoming", "::1"),
                f("outgoing", "127.0.0.1"),
                f("outgoing", "::1"),
            ],
            "{event}"
        );
    }
    // Nothing of another process: the scope is the comm of the sockets' owner.
    assert!(
        run.events
            .iter()
            .filter(|e| e["eventName"]
                .as_str()
                .is_some_and(|n| n.starts_with("net_")))
            .all(|e| e["processName"] == "tr-net-pk"),
        "{:#?}",
        run.events
    );
}

/// A socket made under one generation keeps an owner after a reload: its first packet under
/// the new image, sent by its owner, is decided by the new image's scope (comm) at once.
#[test]
fn a_socket_keeps_its_owner_across_a_reload() {
    if !can_bpf() {
        return;
    }
    let s = Scratch::new();
    let image = |name: &str| {
        let dir = s.path().join(name);
        let _ = std::fs::create_dir_all(&dir);
        compile(
            &dir,
            &[(
                "p.yaml",
                &policy(
                    name,
                    &["comm=tr-net-keep"],
                    &rule("net_packet_udp", &["data.dst_port=9999"]),
                ),
            )],
        )
    };
    let (a, b) = (image("gen-a"), image("gen-b"));
    let live = s.path().join("live.bin");
    replace(&live, &read(&a));
    let (sent, go) = (s.path().join("sent"), s.path().join("go"));
    let client = write_script(
        &s,
        "keep.py",
        &format!(
            r#"
import ctypes, os, socket, time
ctypes.CDLL(None).prctl(15, b"tr-net-keep", 0, 0, 0)
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
u.sendto(b"one", ("127.0.0.1", 9999))
open("{sent}", "w").close()
for _ in range(400):
    if os.path.exists("{go}"):
        break
    time.sleep(0.05)
u.sendto(b"second", ("127.0.0.1", 9999))
"#,
            sent = sent.display(),
            go = go.display()
        ),
    );
    let t = Tracer::start(&live, &[]);
    let child = std::process::Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-ec",
            &format!("ip link set lo up\npython3 {client}"),
        ])
        .spawn()
        .unwrap_or_else(|e| panic!("{e}"));
    let mut child = KillOnDrop(child);
    for _ in 0..200 {
        if sent.exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(sent.exists(), "the client never sent its first packet");
    reload_to(&t, &live, &b);
    std::fs::write(&go, b"").unwrap_or_else(|e| panic!("{e}"));
    let status = child.0.wait().unwrap_or_else(|e| panic!("{e}"));
    assert!(status.success());
    let run = t.stop();
    run.assert_clean();
    // The UDP length tells the two packets apart: 8 + 3 bytes, then 8 + 6.
    let mut seen: Vec<(u64, Vec<String>)> = run
        .named("net_packet_udp")
        .into_iter()
        .map(|e| {
            let length = arg(e, "proto_udp")
                .and_then(|u| u["length"].as_u64())
                .unwrap_or(0);
            (length, policies_of(e))
        })
        .collect();
    seen.sort();
    assert_eq!(
        seen,
        [
            (11, vec!["gen-a".to_owned()]),
            (14, vec!["gen-b".to_owned()])
        ],
        "{:#?}",
        run.events
    );
}
