//! Renders one captured packet (cgroup_skb, from the IP header on) as the output fields of
//! Tracee's `net_packet_*` events, with the names and JSON shapes of Tracee's `trace.*`
//! types (types/trace/network_trace.go) and the strings its gopacket decoders print, so a
//! consumer of Tracee's events reads ours unchanged. Decoding is bounded and total: a
//! truncated or hostile packet yields `None` or fewer records, never a panic or a hang.

use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

/// One captured packet, as the kernel recorded it.
pub struct Packet<'a> {
    /// From the IP header on, possibly truncated to the capture limit.
    pub bytes: &'a [u8],
    /// The packet's full length on the wire (from the IP header on).
    pub len: u32,
    /// true: received (ingress); false: sent (egress).
    pub ingress: bool,
    /// The network interface's name ("lo", "eth0"), resolved by the caller.
    pub iface: &'a str,
    /// Wall-clock time in ns since the epoch (for PacketMetadata.timestamp).
    pub timestamp_ns: u64,
}

/// The Tracee network events this module renders, by name.
pub const EVENTS: &[&str] = schema::abi::PACKET_EVENTS;

type Field = (&'static str, &'static str, Value);

const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;
const DNS_PORT: u16 = 53;
const SUMMARY_MAX: usize = 160;

/// Tracee's output fields of `event` for this packet: (field name, Go type name as in Tracee's
/// event table, value), in Tracee's field order. None when the packet is not that event's
/// kind (an IPv6 packet asked for net_packet_ipv4, a non-DNS packet for net_packet_dns, a
/// DNS response for net_packet_dns_request, a truncated header, ...). Never panics on any input.
pub fn fields(event: &str, p: &Packet<'_>) -> Option<Vec<Field>> {
    if event == "net_packet_raw" {
        return (!p.bytes.is_empty()).then(|| vec![("data", "[]byte", json!(base64(p.bytes)))]);
    }
    let ip = Ip::parse(p)?;
    let (name, ty, value, l4) = match event {
        "net_packet_ipv4" if !ip.v6 => ("proto_ipv4", "trace.ProtoIPv4", ip.header.clone(), None),
        "net_packet_ipv6" if ip.v6 => ("proto_ipv6", "trace.ProtoIPv6", ip.header.clone(), None),
        "net_packet_tcp" => {
            let t = ip.tcp()?;
            ("proto_tcp", "trace.ProtoTCP", tcp_json(t.hdr), Some(t))
        }
        "net_packet_udp" => {
            let u = ip.udp()?;
            let h = u.hdr;
            let v = json!({"srcPort": be16(h, 0), "dstPort": be16(h, 2), "length": be16(h, 4),
                "checksum": be16(h, 6)});
            ("proto_udp", "trace.ProtoUDP", v, Some(u))
        }
        "net_packet_icmp" if !ip.v6 && ip.proto == ICMP => {
            let (h, tc) = (ip.l4?, ip.icmp_type_code()?);
            let v = json!({"typeCode": tc, "checksum": be16(h, 2)?, "id": be16(h, 4)?,
                "seq": be16(h, 6)?});
            ("proto_icmp", "trace.ProtoICMP", v, None)
        }
        "net_packet_icmpv6" if ip.v6 && ip.proto == ICMPV6 => {
            let (h, tc) = (ip.l4?, ip.icmp_type_code()?);
            let v = json!({"typeCode": tc, "checksum": be16(h, 2)?});
            ("proto_icmpv6", "trace.ProtoICMPv6", v, None)
        }
        "net_packet_dns" => {
            let (l4, dns) = ip.dns(p)?;
            ("proto_dns", "trace.ProtoDNS", dns.to_json(), Some(l4))
        }
        "net_packet_http" => {
            let (l4, h) = ip.http()?;
            ("proto_http", "trace.ProtoHTTP", h.to_json(), Some(l4))
        }
        // These four carry Tracee's older PktMeta in place of addresses and ports.
        "net_packet_dns_request" => {
            let (l4, dns) = ip.dns(p).filter(|(_, d)| !d.qr && d.qdcount == 1)?;
            // Tracee drops requests that do not carry exactly one question.
            let [q] = dns.questions.as_slice() else {
                return None;
            };
            let v = json!([q.query_json()]);
            return ip.pkt_meta(&l4, p, ("dns_questions", "[]trace.DnsQueryData", v));
        }
        "net_packet_dns_response" => {
            let (l4, dns) = ip.dns(p).filter(|(_, d)| d.qr)?;
            let [q] = dns.questions.as_slice() else {
                return None;
            };
            let answers: Vec<Value> = dns.answers().iter().map(Record::answer_json).collect();
            let v = json!([{"query_data": q.query_json(), "dns_answer": answers}]);
            return ip.pkt_meta(&l4, p, ("dns_response", "[]trace.DnsResponseData", v));
        }
        "net_packet_http_request" => {
            let (l4, h) = ip.http().filter(|(_, h)| h.request)?;
            let v = json!({"method": h.method, "protocol": h.proto, "host": h.host,
                "uri_path": h.path, "headers": h.headers_json(), "content_length": h.content_length});
            return ip.pkt_meta(&l4, p, ("http_request", "trace.ProtoHTTPRequest", v));
        }
        "net_packet_http_response" => {
            let (l4, h) = ip.http().filter(|(_, h)| !h.request)?;
            let v = json!({"status": h.status, "status_code": h.code, "protocol": h.proto,
                "headers": h.headers_json(), "content_length": h.content_length});
            return ip.pkt_meta(&l4, p, ("http_response", "trace.ProtoHTTPResponse", v));
        }
        _ => return None,
    };
    // Tracee's event table gives net_packet_http's addresses and ports no type.
    let http = event == "net_packet_http";
    let (st, pt) = if http { ("", "") } else { ("string", "uint16") };
    let mut v = vec![("src", st, json!(ip.src)), ("dst", st, json!(ip.dst))];
    if let Some(l4) = l4 {
        v.extend([
            ("src_port", pt, json!(l4.sport)),
            ("dst_port", pt, json!(l4.dport)),
        ]);
    }
    // Tracee's PacketDirection is a uint8 without a JSON marshaller: 1 ingress, 2 egress.
    let md = json!({"direction": if p.ingress { 1 } else { 2 }});
    v.extend([("metadata", "trace.PacketMetadata", md), (name, ty, value)]);
    Some(v)
}

/// A readable one-line summary of the same event for a table column, e.g.
/// `10.0.0.1:5353 -> 10.0.0.2:53 UDP DNS query A example.com (id 4660)`,
/// `127.0.0.1:40000 -> 127.0.0.1:8080 HTTP GET example.test/index.html`,
/// `... HTTP 200 OK`, `... DNS response example.com A 10.1.2.3, CNAME ...`, `... ICMP echo request id 1 seq 1`,
/// `... TCP [SYN,ACK] seq=.. ack=.. len=..`. Decide the exact wording; keep it one line, no newlines, ≤ ~160 chars (truncate long lists with "…" or "+N more").
pub fn summary(event: &str, p: &Packet<'_>) -> Option<String> {
    // Only what `fields` renders gets a summary, so the two never disagree on kind.
    fields(event, p)?;
    let ip = match Ip::parse(p) {
        Some(ip) if event != "net_packet_raw" => ip,
        ip => {
            let head = ip.map_or_else(String::new, |ip| format!("{} -> {} ", ip.src, ip.dst));
            return Some(format!("{head}raw {} of {} bytes", p.bytes.len(), p.len));
        }
    };
    let ends = |l4: &L4<'_>| format!("{} -> {}", addr(&ip.src, l4.sport), addr(&ip.dst, l4.dport));
    let text = match event {
        "net_packet_ipv4" | "net_packet_ipv6" => {
            let (fam, ttl) = if ip.v6 {
                ("IPv6", "hopLimit")
            } else {
                ("IPv4", "TTL")
            };
            let ttl = ip.header.get(ttl).cloned().unwrap_or_default();
            let proto = proto_name(ip.proto);
            format!(
                "{} -> {} {fam} {proto} ttl={ttl} len={}",
                ip.src, ip.dst, p.len
            )
        }
        "net_packet_tcp" => {
            let t = ip.tcp()?;
            let names = ["FIN", "SYN", "RST", "PSH", "ACK", "URG", "ECE", "CWR"];
            let bits = t.hdr.get(13).copied().unwrap_or(0);
            let on = names
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0);
            let flags: Vec<&str> = on.map(|(_, n)| *n).collect();
            let (seq, ack, win) = (be32(t.hdr, 4)?, be32(t.hdr, 8)?, be16(t.hdr, 14)?);
            let len = t.payload.len();
            format!(
                "{} TCP [{}] seq={seq} ack={ack} win={win} len={len}",
                ends(&t),
                flags.join(",")
            )
        }
        "net_packet_udp" => {
            let u = ip.udp()?;
            format!("{} UDP len={}", ends(&u), u.payload.len())
        }
        "net_packet_icmp" | "net_packet_icmpv6" => {
            let h = ip.l4?;
            let echo = match (ip.v6, h.first()?) {
                (false, 8) | (true, 128) => Some("echo request"),
                (false, 0) | (true, 129) => Some("echo reply"),
                _ => None,
            };
            let what = match (echo, be16(h, 4), be16(h, 6)) {
                (Some(e), Some(id), Some(seq)) => format!("{e} id {id} seq {seq}"),
                _ => echo.map_or_else(|| ip.icmp_type_code().unwrap_or_default(), str::to_owned),
            };
            let fam = if ip.v6 { "ICMPv6" } else { "ICMP" };
            format!("{} -> {} {fam} {what}", ip.src, ip.dst)
        }
        "net_packet_dns" | "net_packet_dns_request" | "net_packet_dns_response" => {
            let (l4, dns) = ip.dns(p)?;
            let proto = if ip.proto == TCP { "TCP" } else { "UDP" };
            format!("{} {proto} DNS {}", ends(&l4), dns.summary())
        }
        _ => {
            let (l4, h) = ip.http()?;
            let what = if h.request {
                format!("{} {}{}", h.method, h.host, h.path)
            } else {
                h.status.clone()
            };
            format!("{} HTTP {what}", ends(&l4))
        }
    };
    Some(one_line(&text))
}

/// What the kernel-side filters read from a DNS message, for tests: the first question's
/// name (lowercase, dotted, no trailing dot). None if not a DNS message with a question.
pub fn dns_question_name(dns: &[u8]) -> Option<String> {
    if be16(dns, 4)? == 0 {
        return None;
    }
    let (name, _) = decode_name(dns, 12)?;
    Some(String::from_utf8_lossy(&name).to_ascii_lowercase())
}

// Layers 3 and 4 -------------------------------------------------------------------------

struct Ip<'a> {
    v6: bool,
    src: String,
    dst: String,
    /// The upper-layer protocol once IPv6 extension headers are skipped.
    proto: u8,
    /// The L4 header and payload, trimmed to the IP length; None for a non-first fragment.
    l4: Option<&'a [u8]>,
    /// proto_ipv4 / proto_ipv6.
    header: Value,
    /// Tracee's PktMeta.packet_len: the IPv4 total length or the IPv6 payload length.
    len_field: u16,
}

struct L4<'a> {
    sport: u16,
    dport: u16,
    /// The whole fixed header (20 bytes TCP, 8 UDP).
    hdr: &'a [u8],
    payload: &'a [u8],
}

impl<'a> Ip<'a> {
    fn parse(p: &Packet<'a>) -> Option<Self> {
        match p.bytes.first()? >> 4 {
            4 => Self::v4(p.bytes, p.len),
            6 => Self::v6(p.bytes),
            _ => None,
        }
    }

    fn v4(b: &'a [u8], wire_len: u32) -> Option<Self> {
        let h: &[u8; 20] = b.get(..20)?.try_into().ok()?;
        let (ihl, frag) = (h[0] & 0x0f, be16(h, 6)?);
        let mut total = be16(h, 2)?;
        if total == 0 {
            // TSO leaves the length zero; gopacket then takes the packet's own length.
            total = u16::try_from(wire_len).unwrap_or(u16::MAX);
        }
        let hlen = usize::from(ihl) * 4;
        let end = usize::from(total).min(b.len());
        let whole = ihl >= 5 && usize::from(total) >= hlen && frag & 0x1fff == 0;
        let l4 = b.get(hlen..end).filter(|_| whole);
        let (src, dst) = (ip_string(&h[12..16]), ip_string(&h[16..20]));
        let header = json!({
            "version": h[0] >> 4, "IHL": ihl, "TOS": h[1], "length": total, "id": be16(h, 4),
            "flags": frag >> 13, "fragOffset": frag & 0x1fff, "TTL": h[8],
            "protocol": proto_name(h[9]), "checksum": be16(h, 10), "srcIP": src, "dstIP": dst,
        });
        let (v6, proto, len_field) = (false, h[9], total);
        Some(Ip {
            v6,
            src,
            dst,
            proto,
            l4,
            header,
            len_field,
        })
    }

    fn v6(b: &'a [u8]) -> Option<Self> {
        let h: &[u8; 40] = b.get(..40)?.try_into().ok()?;
        let (src, dst) = (ip_string(&h[8..24]), ip_string(&h[24..40]));
        let plen = be16(h, 4)?;
        // A zero payload length is a jumbogram: the rest of the data is payload.
        let end = if plen == 0 {
            b.len()
        } else {
            (40 + usize::from(plen)).min(b.len())
        };
        let (mut next, mut off, mut l4) = (h[6], 40, None);
        // A bounded walk over extension headers to the upper-layer header.
        for _ in 0..8 {
            if !matches!(next, 0 | 43 | 44 | 60) {
                break;
            }
            let (nh, elen) = (*b.get(off)?, *b.get(off + 1)?);
            // Only a fragment at offset 0 carries the upper-layer header.
            if next == 44 && be16(b, off + 2)? >> 3 != 0 {
                (next, off) = (nh, usize::MAX);
                break;
            }
            off += if next == 44 {
                8
            } else {
                (usize::from(elen) + 1) * 8
            };
            next = nh;
        }
        if off <= end {
            l4 = b.get(off..end);
        }
        let header = json!({
            "version": h[0] >> 4, "trafficClass": (h[0] << 4) | (h[1] >> 4),
            "flowLabel": (u32::from(h[1] & 0x0f) << 16) | u32::from(be16(h, 2)?),
            "length": plen, "nextHeader": proto_name(h[6]), "hopLimit": h[7],
            "srcIP": src, "dstIP": dst,
        });
        Some(Ip {
            v6: true,
            src,
            dst,
            proto: next,
            l4,
            header,
            len_field: plen,
        })
    }

    fn tcp(&self) -> Option<L4<'a>> {
        let b = self.l4.filter(|_| self.proto == TCP)?;
        let hdr = b.get(..20)?;
        let doff = usize::from(hdr.get(12)? >> 4) * 4;
        let payload = b.get(doff.max(20)..).unwrap_or_default();
        Some(L4 {
            sport: be16(b, 0)?,
            dport: be16(b, 2)?,
            hdr,
            payload,
        })
    }

    fn udp(&self) -> Option<L4<'a>> {
        let b = self.l4.filter(|_| self.proto == UDP)?;
        let payload = match be16(b, 4)? {
            0 => b.get(8..),
            // gopacket: a UDP length under 8 is an error, so no application layer.
            1..=7 => None,
            n => b.get(8..usize::from(n).min(b.len())),
        };
        let (hdr, payload) = (b.get(..8)?, payload.unwrap_or_default());
        Some(L4 {
            sport: be16(b, 0)?,
            dport: be16(b, 2)?,
            hdr,
            payload,
        })
    }

    fn icmp_type_code(&self) -> Option<String> {
        let h = self.l4?;
        Some(icmp_type_code(self.v6, *h.first()?, *h.get(1)?))
    }

    /// Tracee's kernel side picks DNS by the lower port being 53, TCP or UDP alike.
    fn dns(&self, p: &Packet<'_>) -> Option<(L4<'a>, Dns)> {
        let l4 = self.tcp().or_else(|| self.udp())?;
        if l4.sport.min(l4.dport) != DNS_PORT {
            return None;
        }
        let msg = match self.proto {
            // DNS over TCP: a two-byte length, then the message.
            TCP => l4
                .payload
                .get(2..(2 + usize::from(be16(l4.payload, 0)?)).min(l4.payload.len()))?,
            _ => l4.payload,
        };
        let truncated = p.bytes.len() < usize::try_from(p.len).unwrap_or(usize::MAX);
        let dns = Dns::decode(msg, truncated)?;
        Some((l4, dns))
    }

    fn http(&self) -> Option<(L4<'a>, Http)> {
        let l4 = self.tcp().filter(|t| t.sport.min(t.dport) != DNS_PORT)?;
        let h = Http::parse(l4.payload)?;
        Some((l4, h))
    }

    fn pkt_meta(&self, l4: &L4<'_>, p: &Packet<'_>, last: Field) -> Option<Vec<Field>> {
        let v = json!({
            "src_ip": self.src, "dst_ip": self.dst, "src_port": l4.sport, "dst_port": l4.dport,
            "protocol": self.proto, "packet_len": self.len_field, "iface": p.iface,
        });
        Some(vec![("metadata", "trace.PktMeta", v), last])
    }
}

fn tcp_json(h: &[u8]) -> Value {
    let (off, flags) = (
        h.get(12).copied().unwrap_or(0),
        h.get(13).copied().unwrap_or(0),
    );
    let bit = |n: u8| (flags >> n) & 1;
    json!({
        "srcPort": be16(h, 0), "dstPort": be16(h, 2), "seq": be32(h, 4), "ack": be32(h, 8),
        "dataOffset": off >> 4, "FIN": bit(0), "SYN": bit(1), "RST": bit(2), "PSH": bit(3),
        "ACK": bit(4), "URG": bit(5), "ECE": bit(6), "CWR": bit(7), "NS": off & 1,
        "window": be16(h, 14), "checksum": be16(h, 16), "urgent": be16(h, 18),
    })
}

/// gopacket's IPProtocol names (layers/enums.go).
#[rustfmt::skip]
fn proto_name(p: u8) -> &'static str {
    match p {
        0 => "IPv6HopByHop", 1 => "ICMPv4", 2 => "IGMP", 4 | 94 => "IPv4", 6 => "TCP",
        17 => "UDP", 27 => "RUDP", 41 => "IPv6", 43 => "IPv6Routing", 44 => "IPv6Fragment",
        47 => "GRE", 50 => "IPSecESP", 51 => "IPSecAH", 58 => "ICMPv6", 59 => "NoNextHeader",
        60 => "IPv6Destination", 89 => "OSPF", 97 => "EtherIP", 112 => "VRRP", 132 => "SCTP",
        136 => "UDPLite", 137 => "MPLS", _ => "UnknownIPProtocol",
    }
}

/// gopacket's ICMPv4TypeCode / ICMPv6TypeCode String() (layers/icmp4.go, icmp6.go).
#[rustfmt::skip]
fn icmp_type_code(v6: bool, t: u8, c: u8) -> String {
    let (name, codes): (&str, &[&str]) = match (v6, t) {
        (false, 0) | (true, 129) => ("EchoReply", &[]),
        (false, 8) | (true, 128) => ("EchoRequest", &[]),
        (false, 3) => ("DestinationUnreachable", &["Net", "Host", "Protocol", "Port",
            "FragmentationNeeded", "SourceRoutingFailed", "NetUnknown", "HostUnknown",
            "SourceIsolated", "NetAdminProhibited", "HostAdminProhibited", "NetTOS", "HostTOS",
            "CommAdminProhibited", "HostPrecedence", "PrecedenceCutoff"]),
        (false, 4) => ("SourceQuench", &[]),
        (false, 5) => ("Redirect", &["Net", "Host", "TOS+Net", "TOS+Host"]),
        (false, 9) | (true, 134) => ("RouterAdvertisement", &[]),
        (false, 10) | (true, 133) => ("RouterSolicitation", &[]),
        (false, 11) => ("TimeExceeded", &["TTLExceeded", "FragmentReassemblyTimeExceeded"]),
        (false, 12) => ("ParameterProblem", &["PointerIndicatesError", "MissingOption", "BadLength"]),
        (false, 13) => ("TimestampRequest", &[]),
        (false, 14) => ("TimestampReply", &[]),
        (false, 15) => ("InfoRequest", &[]),
        (false, 16) => ("InfoReply", &[]),
        (false, 17) => ("AddressMaskRequest", &[]),
        (false, 18) => ("AddressMaskReply", &[]),
        (true, 1) => ("DestinationUnreachable", &["NoRouteToDst", "AdminProhibited",
            "BeyondScopeOfSrc", "AddressUnreachable", "PortUnreachable", "SrcAddressFailedPolicy",
            "RejectRouteToDst"]),
        (true, 2) => ("PacketTooBig", &[]),
        (true, 3) => ("TimeExceeded", &["HopLimitExceeded", "FragmentReassemblyTimeExceeded"]),
        (true, 4) => ("ParameterProblem", &["ErroneousHeaderField", "UnrecognizedNextHeader",
            "UnrecognizedIPv6Option"]),
        (true, 135) => ("NeighborSolicitation", &[]),
        (true, 136) => ("NeighborAdvertisement", &[]),
        (true, 137) => ("Redirect", &[]),
        _ => return format!("{t}({c})"),
    };
    match codes.get(usize::from(c)) {
        _ if codes.is_empty() && c == 0 => name.to_owned(),
        Some(code) => format!("{name}({code})"),
        None => format!("{name}(Code: {c})"),
    }
}

// DNS: what gopacket's layers/dns.go decodes and Tracee prints ---------------------------

struct Dns {
    id: u16,
    /// Header bytes 2 and 3: QR, opcode, AA, TC, RD / RA, Z, RCODE.
    flags: [u8; 2],
    qr: bool,
    rcode: u8,
    qdcount: u16,
    /// ANCOUNT, NSCOUNT, ARCOUNT.
    counts: [u16; 3],
    questions: Vec<Question>,
    /// Answers, authorities, additionals.
    sections: [Vec<Record>; 3],
}

struct Question {
    name: String,
    ty: u16,
    class: u16,
}

#[derive(Default)]
struct Record {
    name: String,
    ty: u16,
    class: u16,
    ttl: u32,
    ip: String,
    /// NS, CNAME or PTR, by type.
    target: String,
    txts: Vec<String>,
    soa: (String, String, [u32; 5]),
    srv: (u16, u16, u16, String),
    mx: (u16, String),
    opt: Vec<Value>,
    uri: (u16, u16, String),
    txt: String,
}

impl Dns {
    /// gopacket drops the whole message on any decode error; when the capture cut the
    /// packet short we keep the records decoded before the cut instead.
    fn decode(m: &[u8], truncated: bool) -> Option<Self> {
        let h: &[u8; 12] = m.get(..12)?.try_into().ok()?;
        let count = |i| be16(h, i).unwrap_or(0);
        let (flags, counts) = ([h[2], h[3]], [count(6), count(8), count(10)]);
        let (qr, rcode, qdcount) = (h[2] & 0x80 != 0, h[3] & 0x0f, count(4));
        let (id, questions, sections) = (count(0), Vec::new(), Default::default());
        let mut d = Dns {
            id,
            flags,
            qr,
            rcode,
            qdcount,
            counts,
            questions,
            sections,
        };
        let mut off = 12;
        for _ in 0..qdcount {
            let q =
                decode_name(m, off).and_then(|(n, e)| Some((n, be16(m, e)?, be16(m, e + 2)?, e)));
            let Some((name, ty, class, end)) = q else {
                return truncated.then_some(d).filter(|d| !d.questions.is_empty());
            };
            d.questions.push(Question {
                name: lossy(&name),
                ty,
                class,
            });
            off = end + 4;
        }
        for (i, n) in counts.into_iter().enumerate() {
            for _ in 0..n {
                let Some((rr, end)) = Record::decode(m, off) else {
                    return truncated.then_some(d);
                };
                if i == 2 && rr.ty == 41 {
                    // The extended RCODE in an OPT record's TTL (RFC 6891 6.1.3), as gopacket.
                    d.rcode |= ((rr.ttl >> 20) & 0xf0) as u8;
                }
                if let Some(s) = d.sections.get_mut(i) {
                    s.push(rr);
                }
                off = end;
            }
        }
        Some(d)
    }

    fn to_json(&self) -> Value {
        let rrs = |v: &[Record]| Value::Array(v.iter().map(Record::to_json).collect());
        let qs: Vec<Value> = self.questions.iter().map(Question::to_json).collect();
        let ([f2, f3], [an, ns, ar]) = (self.flags, self.counts);
        let [answers, auth, add] = &self.sections;
        json!({
            "ID": self.id, "QR": u8::from(self.qr), "opCode": opcode((f2 >> 3) & 0x0f),
            "AA": (f2 >> 2) & 1, "TC": (f2 >> 1) & 1, "RD": f2 & 1, "RA": f3 >> 7,
            "Z": (f3 >> 4) & 7, "responseCode": rcode(self.rcode), "QDCount": self.qdcount,
            "ANCount": an, "NSCount": ns, "ARCount": ar, "questions": qs,
            "answers": rrs(answers), "authorities": rrs(auth), "additionals": rrs(add),
        })
    }

    fn answers(&self) -> &[Record] {
        let [answers, ..] = &self.sections;
        answers
    }

    fn summary(&self) -> String {
        let q = self.questions.first();
        let name = q.map_or("", |q| q.name.as_str());
        if !self.qr {
            return format!(
                "query {} {name} (id {})",
                q.map_or("", |q| dns_type(q.ty)),
                self.id
            );
        }
        let mut s = format!("response {name}");
        if self.rcode != 0 {
            s = format!("{s} {}", rcode(self.rcode).trim());
        }
        let shown: Vec<String> = self
            .answers()
            .iter()
            .take(4)
            .map(|a| format!("{} {}", dns_type(a.ty), a.answer()))
            .collect();
        if !shown.is_empty() {
            s = format!("{s} {}", shown.join(", "));
        }
        if self.answers().len() > shown.len() {
            s = format!("{s} +{} more", self.answers().len() - shown.len());
        }
        format!("{s} (id {})", self.id)
    }
}

impl Question {
    fn to_json(&self) -> Value {
        json!({"name": self.name, "type": dns_type(self.ty), "class": dns_class(self.class)})
    }

    fn query_json(&self) -> Value {
        json!({"query": self.name, "query_type": dns_type(self.ty),
            "query_class": dns_class(self.class)})
    }
}

impl Record {
    fn decode(m: &[u8], off: usize) -> Option<(Self, usize)> {
        let (name, p) = decode_name(m, off)?;
        let (ty, class, ttl) = (be16(m, p)?, be16(m, p + 2)?, be32(m, p + 4)?);
        let (start, end) = (p + 10, p + 10 + usize::from(be16(m, p + 8)?));
        // Names inside RDATA may point anywhere before the record's end, never past it.
        let m = m.get(..end)?;
        let data = m.get(start..)?;
        let mut r = Record {
            name: lossy(&name),
            ty,
            class,
            ttl,
            ..Default::default()
        };
        let name_at = |at| decode_name(m, at).map(|(n, e)| (lossy(&n), e));
        match ty {
            _ if data.is_empty() => {}
            1 | 28 => r.ip = ip_string(data),
            2 | 5 | 12 => r.target = name_at(start)?.0,
            13 | 16 => (r.txt, r.txts) = (lossy(data), character_strings(data)?),
            6 => {
                let (mname, e) = name_at(start)?;
                let (rname, e) = name_at(e)?;
                let mut nums = [0u32; 5];
                for (i, n) in nums.iter_mut().enumerate() {
                    *n = be32(m, e + 4 * i)?;
                }
                r.soa = (mname, rname, nums);
            }
            15 => r.mx = (be16(m, start)?, name_at(start + 2)?.0),
            33 => {
                let (prio, weight, port) =
                    (be16(m, start)?, be16(m, start + 2)?, be16(m, start + 4)?);
                r.srv = (prio, weight, port, name_at(start + 6)?.0);
            }
            256 => r.uri = (be16(data, 0)?, be16(data, 2)?, lossy(data.get(4..)?)),
            41 => {
                let mut i = 0;
                while i < data.len() {
                    let (code, l) = (be16(data, i)?, usize::from(be16(data, i + 2)?));
                    let value = lossy(data.get(i + 4..i + 4 + l)?);
                    r.opt.push(json!({"code": opt_code(code), "data": value}));
                    i += 4 + l;
                }
            }
            _ => {}
        }
        Some((r, end))
    }

    fn to_json(&self) -> Value {
        let (mname, rname, [serial, refresh, retry, expire, minimum]) = &self.soa;
        let target = |t: u16| {
            if self.ty == t {
                self.target.as_str()
            } else {
                ""
            }
        };
        json!({
            "name": self.name, "type": dns_type(self.ty), "class": dns_class(self.class),
            "TTL": self.ttl, "IP": self.ip, "NS": target(2), "CNAME": target(5),
            "PTR": target(12), "TXTs": self.txts,
            "SOA": {"MName": mname, "RName": rname, "serial": serial, "refresh": refresh,
                "retry": retry, "expire": expire, "minimum": minimum},
            "SRV": {"priority": self.srv.0, "weight": self.srv.1, "port": self.srv.2,
                "name": self.srv.3},
            "MX": {"preference": self.mx.0, "name": self.mx.1},
            "OPT": self.opt,
            "URI": {"priority": self.uri.0, "weight": self.uri.1, "target": self.uri.2},
            "TXT": self.txt,
        })
    }

    /// Tracee's DnsAnswer.answer: one value per type it knows, else "not implemented".
    fn answer(&self) -> &str {
        match self.ty {
            1 | 28 => &self.ip,
            2 | 5 | 12 => &self.target,
            15 => &self.mx.1,
            16 => &self.txt,
            _ => "not implemented",
        }
    }

    fn answer_json(&self) -> Value {
        json!({"answer_type": dns_type(self.ty), "ttl": self.ttl, "answer": self.answer()})
    }
}

/// A (possibly compressed) name at `off`: its bytes, dotted, and the offset after it.
/// As gopacket's decodeName: a segment over 255 bytes, a label running off the end, a
/// 0x40/0x80 label type or more than 254 pointers followed (a loop) is an error.
fn decode_name(m: &[u8], off: usize) -> Option<(Vec<u8>, usize)> {
    let (mut out, mut pos, mut seg, mut end) = (Vec::new(), off, off, None);
    let mut pointers = 0;
    loop {
        let b = *m.get(pos)?;
        match b & 0xc0 {
            _ if b == 0 => return Some((out, end.unwrap_or(pos + 1))),
            0 => {
                let next = pos + usize::from(b) + 1;
                if next - seg > 255 {
                    return None;
                }
                if !out.is_empty() {
                    out.push(b'.');
                }
                out.extend_from_slice(m.get(pos + 1..next)?);
                pos = next;
            }
            0xc0 if pointers < 254 => {
                pointers += 1;
                end.get_or_insert(pos + 2);
                pos = usize::from(be16(m, pos)? & 0x3fff);
                seg = pos;
            }
            _ => return None,
        }
    }
}

fn character_strings(mut d: &[u8]) -> Option<Vec<String>> {
    let mut v = Vec::new();
    while let Some((&n, rest)) = d.split_first() {
        v.push(lossy(rest.get(..usize::from(n))?));
        d = rest.get(usize::from(n)..)?;
    }
    Some(v)
}

#[rustfmt::skip]
fn dns_type(t: u16) -> &'static str {
    const LOW: [&str; 17] = ["Unknown", "A", "NS", "MD", "MF", "CNAME", "SOA", "MB", "MG", "MR",
        "NULL", "WKS", "PTR", "HINFO", "MINFO", "MX", "TXT"];
    match t {
        28 => "AAAA", 33 => "SRV", 41 => "OPT", 256 => "URI",
        _ => LOW.get(usize::from(t)).copied().unwrap_or("Unknown"),
    }
}

#[rustfmt::skip]
fn dns_class(c: u16) -> &'static str {
    match c { 1 => "IN", 2 => "CS", 3 => "CH", 4 => "HS", 255 => "Any", _ => "Unknown" }
}

/// Tracee lowercases gopacket's DNSOpCode String().
#[rustfmt::skip]
fn opcode(o: u8) -> &'static str {
    match o { 0 => "query", 1 => "inverse query", 2 => "status", 4 => "notify", 5 => "update",
        _ => "unknown" }
}

/// Tracee lowercases gopacket's DNSResponseCode String(); the trailing space is gopacket's.
#[rustfmt::skip]
fn rcode(r: u8) -> &'static str {
    const NAMES: [&str; 24] = ["no error", "format error", "server failure ",
        "non-existent domain", "not implemented", "query refused",
        "name exists when it should not", "rr set exists when it should not",
        "rr set that should exist does not", "server not authoritative for zone",
        "name not contained in zone", "unknown", "unknown", "unknown", "unknown", "unknown",
        "bad opt version", "key not recognized", "signature out of time window",
        "bad tkey mode", "duplicate key name", "algorithm not supported", "bad truncation",
        "bad cookie"];
    NAMES.get(usize::from(r)).copied().unwrap_or("unknown")
}

#[rustfmt::skip]
fn opt_code(c: u16) -> &'static str {
    match c {
        3 => "NSID", 5 => "DAU", 6 => "DHU", 7 => "N3U", 8 => "EDNSClientSubnet",
        9 => "EDNSExpire", 10 => "Cookie", 11 => "EDNSKeepAlive", 12 => "CodePadding",
        13 => "CodeChain", 14 => "CodeEDNSKeyTag", 16 => "EDNSClientTag", 17 => "EDNSServerTag",
        26946 => "DeviceID", _ => "Unknown",
    }
}

// HTTP: what Go's http.ReadRequest / ReadResponse leave in the fields Tracee prints -------

#[derive(Default)]
struct Http {
    request: bool,
    method: String,
    proto: String,
    host: String,
    path: String,
    status: String,
    code: i64,
    headers: BTreeMap<String, Vec<String>>,
    content_length: i64,
}

const METHODS: [&str; 9] = [
    "GET", "POST", "PUT", "DELETE", "HEAD", "OPTIONS", "PATCH", "CONNECT", "TRACE",
];

impl Http {
    /// Unlike Go, headers cut off by the capture limit are kept up to the last whole line.
    fn parse(payload: &[u8]) -> Option<Self> {
        // Tracee's httpMinLen: the longest method and its space.
        if payload.len() < 7 {
            return None;
        }
        let text = String::from_utf8_lossy(payload);
        let mut lines: Vec<&str> = text
            .split('\n')
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
            .collect();
        // The last piece has no newline after it: it is whole only if the headers ended before.
        lines.pop();
        let (first, rest) = lines.split_first()?;
        let mut h = Http::default();
        if first.starts_with("HTTP/1.") {
            let (proto, status) = first.split_once(' ')?;
            let status = status.trim_start_matches(' ');
            let code = status.split(' ').next().filter(|c| c.len() == 3)?;
            (h.proto, h.status, h.code) = (proto.into(), status.into(), code.parse().ok()?);
        } else {
            let (method, rest) = first.split_once(' ')?;
            let (uri, proto) = rest.split_once(' ')?;
            if !METHODS.contains(&method) || !proto.starts_with("HTTP/") {
                return None;
            }
            (h.request, h.method, h.proto) = (true, method.into(), proto.into());
            // An absolute URI names the host; CONNECT's target is only an authority.
            let absolute = uri.split_once("://").filter(|(s, _)| !s.contains('/'));
            let (host, path) = match absolute {
                Some((_, r)) => r.split_at(r.find('/').unwrap_or(r.len())),
                None if method == "CONNECT" && !uri.starts_with('/') => (uri, ""),
                None => ("", uri),
            };
            h.host = host.into();
            h.path = unescape(path.split('?').next().unwrap_or_default())?;
        }
        for line in rest.iter().take_while(|l| !l.is_empty()) {
            // Go rejects a line without a colon; keeping the rest is more useful here.
            if let Some((k, v)) = line.split_once(':') {
                let key = canonical_key(k.trim_matches([' ', '\t']));
                h.headers
                    .entry(key)
                    .or_default()
                    .push(v.trim_matches([' ', '\t']).into());
            }
        }
        h.finish();
        Some(h)
    }

    /// net/http's header fix-ups and content length (request.go, transfer.go fixLength).
    fn finish(&mut self) {
        let hs = &mut self.headers;
        let first = |hs: &BTreeMap<String, Vec<String>>, k: &str| {
            hs.get(k).and_then(|v| v.first()).cloned()
        };
        if self.request {
            if self.host.is_empty() {
                self.host = first(hs, "Host").unwrap_or_default();
            }
            hs.remove("Host");
        }
        if first(hs, "Pragma").as_deref() == Some("no-cache") && !hs.contains_key("Cache-Control") {
            hs.insert("Cache-Control".into(), vec!["no-cache".into()]);
        }
        let te = hs
            .remove("Transfer-Encoding")
            .and_then(|v| v.first().cloned());
        let chunked =
            self.proto != "HTTP/1.0" && te.is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        let declared = first(hs, "Content-Length").and_then(|v| v.trim().parse::<i64>().ok());
        let bodiless = !self.request && (self.code / 100 == 1 || matches!(self.code, 204 | 304));
        self.content_length = match (bodiless, chunked, declared) {
            (true, ..) => 0,
            (_, true, _) => {
                hs.remove("Content-Length");
                -1
            }
            (_, _, Some(n)) => n,
            _ if self.request => 0,
            _ => -1,
        };
    }

    fn headers_json(&self) -> Value {
        Value::Object(
            self.headers
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect::<Map<_, _>>(),
        )
    }

    fn to_json(&self) -> Value {
        json!({
            "direction": if self.request { "request" } else { "response" },
            "method": self.method, "protocol": self.proto, "host": self.host,
            "uri_path": self.path, "status": self.status, "status_code": self.code,
            "headers": self.headers_json(), "content_length": self.content_length,
        })
    }
}

/// textproto.CanonicalMIMEHeaderKey: keys with bytes outside a token are left alone.
fn canonical_key(k: &str) -> String {
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if k.is_empty() || !k.bytes().all(token) {
        return k.to_owned();
    }
    let mut upper = true;
    let mut out = String::with_capacity(k.len());
    for c in k.chars() {
        out.push(if upper {
            c.to_ascii_uppercase()
        } else {
            c.to_ascii_lowercase()
        });
        upper = c == '-';
    }
    out
}

/// url.URL.Path is percent-decoded; a bad escape makes Go reject the request.
fn unescape(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&c, tail)) = rest.split_first() {
        rest = tail;
        if c == b'%' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            rest = tail.get(2..)?;
        } else {
            out.push(c);
        }
    }
    Some(lossy(&out))
}

// Small helpers --------------------------------------------------------------------------

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at.checked_add(1)?)?,
    ]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some((u32::from(be16(b, at)?) << 16) | u32::from(be16(b, at.checked_add(2)?)?))
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Go's net.IP String(): IPv4-mapped IPv6 prints dotted, other lengths as "?" and hex.
fn ip_string(b: &[u8]) -> String {
    if let Ok(a) = <[u8; 4]>::try_from(b) {
        return Ipv4Addr::from(a).to_string();
    }
    if let Ok(a) = <[u8; 16]>::try_from(b).map(Ipv6Addr::from) {
        return a
            .to_ipv4_mapped()
            .map_or_else(|| a.to_string(), |v4| v4.to_string());
    }
    b.iter().fold("?".to_owned(), |s, x| format!("{s}{x:02x}"))
}

fn addr(ip: &str, port: u16) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Control characters (a hostile DNS label, an HTTP path) must not break the table row.
fn one_line(s: &str) -> String {
    let clean = s.chars().map(|c| if c.is_control() { '?' } else { c });
    let mut out: String = clean.clone().take(SUMMARY_MAX).collect();
    if clean.count() > SUMMARY_MAX {
        out = out.chars().take(SUMMARY_MAX - 1).chain(['…']).collect();
    }
    out
}

/// Go encodes []byte in JSON as standard base64 with padding.
fn base64(b: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for chunk in b.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &x)| n | u32::from(x) << (16 - 8 * i));
        for i in 0..4 {
            let sextet = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
            let c = ABC
                .get(sextet)
                .filter(|_| i <= chunk.len())
                .copied()
                .unwrap_or(b'=');
            out.push(char::from(c));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ipv4(proto: u8, src: [u8; 4], dst: [u8; 4], l4: &[u8]) -> Vec<u8> {
        let len = ((20 + l4.len()) as u16).to_be_bytes();
        let head = [
            0x45, 0, len[0], len[1], 0x12, 0x34, 0x40, 0, 64, proto, 0xbe, 0xef,
        ];
        [&head[..], &src, &dst, l4].concat()
    }

    fn ipv6(next: u8, src: u8, dst: u8, l4: &[u8]) -> Vec<u8> {
        let len = (l4.len() as u16).to_be_bytes();
        let addr = |last| [&[0xfe, 0x80][..], &[0; 13], &[last]].concat();
        [
            &[0x60, 0, 0, 1, len[0], len[1], next, 64][..],
            &addr(src),
            &addr(dst),
            l4,
        ]
        .concat()
    }

    fn udp(sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
        let len = (8 + payload.len()) as u16;
        let ports = [
            sport.to_be_bytes(),
            dport.to_be_bytes(),
            len.to_be_bytes(),
            [0, 0],
        ];
        [&ports.concat()[..], payload].concat()
    }

    fn tcp(sport: u16, dport: u16, flags: u8, options: &[u8], payload: &[u8]) -> Vec<u8> {
        let doff = ((20 + options.len()) / 4) as u8;
        let seq = [
            sport.to_be_bytes(),
            dport.to_be_bytes(),
            [0, 0],
            [0x03, 0xe8],
            [0, 0],
            [0, 0],
        ];
        let rest = [doff << 4, flags, 0xfa, 0xf0, 0xab, 0xcd, 0, 0];
        [&seq.concat()[..], &rest, options, payload].concat()
    }

    const EXAMPLE: &[u8] = b"\x07example\x03com\x00";
    const A: [u8; 4] = [10, 0, 0, 1];
    const B: [u8; 4] = [10, 0, 0, 2];
    const LO: [u8; 4] = [127, 0, 0, 1];
    const HTTP_GET: &[u8] = b"GET /index.html?x=1 HTTP/1.1\r\nHost: example.test\r\n\
        user-agent: curl/8.0\r\nAccept: */*\r\n\r\n";
    const HTTP_OK: &[u8] =
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello";

    fn dns_query() -> Vec<u8> {
        [
            &[0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0][..],
            EXAMPLE,
            &[0, 1, 0, 1],
        ]
        .concat()
    }

    /// Answer 1 (at 29): example.com CNAME cdn.<pointer to 12>, its RDATA at 41;
    /// answer 2: <pointer to 41> A 10.1.2.3.
    fn dns_response() -> Vec<u8> {
        let head = [0x12, 0x34, 0x81, 0x80, 0, 1, 0, 2, 0, 0, 0, 0];
        let cname = [
            0xc0, 12, 0, 5, 0, 1, 0, 0, 1, 0x2c, 0, 6, 3, b'c', b'd', b'n', 0xc0, 12,
        ];
        let a = [0xc0, 41, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3];
        [&head[..], EXAMPLE, &[0, 1, 0, 1], &cname, &a].concat()
    }

    fn pkt(bytes: &[u8]) -> Packet<'_> {
        Packet {
            bytes,
            len: bytes.len() as u32,
            ingress: false,
            iface: "eth0",
            timestamp_ns: 1,
        }
    }

    /// The fields as Tracee prints an event's args.
    fn args(event: &str, bytes: &[u8]) -> Value {
        let f = fields(event, &pkt(bytes)).unwrap_or_default();
        let f = f
            .into_iter()
            .map(|(n, t, v)| json!({"name": n, "type": t, "value": v}));
        Value::Array(f.collect())
    }

    fn line(event: &str, bytes: &[u8]) -> String {
        summary(event, &pkt(bytes)).unwrap_or_default()
    }

    fn all_packets() -> Vec<Vec<u8>> {
        let mut looped = dns_response();
        looped[45..47].copy_from_slice(&[0xc0, 41]); // the CNAME target points at itself
        let mut qloop = dns_query();
        qloop[12..14].copy_from_slice(&[0xc0, 12]);
        let hop = [&[17, 0, 1, 4, 0, 0, 0, 0][..], &udp(5353, 53, &dns_query())].concat();
        let tcp_dns = [&[0, 29][..], &dns_query()].concat();
        vec![
            ipv4(UDP, A, B, &udp(5353, 53, &dns_query())),
            ipv4(UDP, B, A, &udp(53, 5353, &dns_response())),
            ipv4(UDP, B, A, &udp(53, 5353, &looped)),
            ipv4(UDP, B, A, &udp(53, 5353, &qloop)),
            ipv4(TCP, A, B, &tcp(40000, 8080, 0x02, &[2, 4, 5, 0xb4], b"")),
            ipv4(TCP, LO, LO, &tcp(40000, 8080, 0x18, &[], HTTP_GET)),
            ipv4(TCP, LO, LO, &tcp(8080, 40000, 0x18, &[], HTTP_OK)),
            ipv4(TCP, A, B, &tcp(40000, 53, 0x18, &[], &tcp_dns)),
            ipv4(ICMP, A, B, &[8, 0, 0xf7, 0xfd, 0, 1, 0, 1, b'p', b'i']),
            ipv6(ICMPV6, 1, 2, &[128, 0, 0x12, 0x34, 0, 7, 0, 3]),
            ipv6(0, 1, 2, &hop),
        ]
    }

    #[test]
    fn dns_request_json() {
        let b = &all_packets()[0];
        let want = json!([
            {"name": "metadata", "type": "trace.PktMeta", "value": {"src_ip": "10.0.0.1",
                "dst_ip": "10.0.0.2", "src_port": 5353, "dst_port": 53, "protocol": 17,
                "packet_len": 57, "iface": "eth0"}},
            {"name": "dns_questions", "type": "[]trace.DnsQueryData",
                "value": [{"query": "example.com", "query_type": "A", "query_class": "IN"}]},
        ]);
        assert_eq!(args("net_packet_dns_request", b), want);
        assert_eq!(fields("net_packet_dns_response", &pkt(b)), None);
        let want = "10.0.0.1:5353 -> 10.0.0.2:53 UDP DNS query A example.com (id 4660)";
        assert_eq!(line("net_packet_dns_request", b), want);
        assert_eq!(
            dns_question_name(&dns_query()).as_deref(),
            Some("example.com")
        );
    }

    #[test]
    fn dns_response_json() {
        let b = &all_packets()[1];
        let want = json!([
            {"name": "metadata", "type": "trace.PktMeta", "value": {"src_ip": "10.0.0.2",
                "dst_ip": "10.0.0.1", "src_port": 53, "dst_port": 5353, "protocol": 17,
                "packet_len": 91, "iface": "eth0"}},
            {"name": "dns_response", "type": "[]trace.DnsResponseData", "value": [{
                "query_data": {"query": "example.com", "query_type": "A", "query_class": "IN"},
                "dns_answer": [{"answer_type": "CNAME", "ttl": 300, "answer": "cdn.example.com"},
                    {"answer_type": "A", "ttl": 60, "answer": "10.1.2.3"}]}]},
        ]);
        assert_eq!(args("net_packet_dns_response", b), want);
        assert_eq!(fields("net_packet_dns_request", &pkt(b)), None);
        let none = json!({"MName": "", "RName": "", "serial": 0, "refresh": 0, "retry": 0,
            "expire": 0, "minimum": 0});
        let answer = json!({"name": "cdn.example.com", "type": "A", "class": "IN", "TTL": 60,
            "IP": "10.1.2.3", "NS": "", "CNAME": "", "PTR": "", "TXTs": [], "SOA": none,
            "SRV": {"priority": 0, "weight": 0, "port": 0, "name": ""},
            "MX": {"preference": 0, "name": ""}, "OPT": [],
            "URI": {"priority": 0, "weight": 0, "target": ""}, "TXT": ""});
        let dns = &args("net_packet_dns", b)[5];
        assert_eq!(
            (&dns["name"], &dns["type"]),
            (&json!("proto_dns"), &json!("trace.ProtoDNS"))
        );
        let d = &dns["value"];
        assert_eq!(
            (&d["ID"], &d["QR"], &d["RD"], &d["RA"]),
            (&json!(4660), &json!(1), &json!(1), &json!(1))
        );
        assert_eq!(
            (&d["opCode"], &d["responseCode"]),
            (&json!("query"), &json!("no error"))
        );
        assert_eq!(
            (&d["answers"][1], &d["answers"][0]["CNAME"]),
            (&answer, &json!("cdn.example.com"))
        );
        let want = "10.0.0.2:53 -> 10.0.0.1:5353 UDP DNS response example.com \
            CNAME cdn.example.com, A 10.1.2.3 (id 4660)";
        assert_eq!(line("net_packet_dns_response", b), want);
    }

    #[test]
    fn compression_loops_end() {
        for b in &all_packets()[2..4] {
            assert_eq!(fields("net_packet_dns", &pkt(b)), None);
        }
        let mut qloop = dns_query();
        qloop[12..14].copy_from_slice(&[0xc0, 12]);
        assert_eq!(dns_question_name(&qloop), None);
    }

    #[test]
    fn http_json() {
        let b = &all_packets()[5];
        let want = json!([
            {"name": "metadata", "type": "trace.PktMeta", "value": {"src_ip": "127.0.0.1",
                "dst_ip": "127.0.0.1", "src_port": 40000, "dst_port": 8080, "protocol": 6,
                "packet_len": 127, "iface": "eth0"}},
            {"name": "http_request", "type": "trace.ProtoHTTPRequest", "value": {"method": "GET",
                "protocol": "HTTP/1.1", "host": "example.test", "uri_path": "/index.html",
                "headers": {"User-Agent": ["curl/8.0"], "Accept": ["*/*"]}, "content_length": 0}},
        ]);
        assert_eq!(args("net_packet_http_request", b), want);
        assert_eq!(fields("net_packet_http_response", &pkt(b)), None);
        let http = args("net_packet_http", b);
        assert_eq!(
            (&http[0]["type"], &http[5]["value"]["direction"]),
            (&json!(""), &json!("request"))
        );
        let want = "127.0.0.1:40000 -> 127.0.0.1:8080 HTTP GET example.test/index.html";
        assert_eq!(line("net_packet_http_request", b), want);
        let r = &all_packets()[6];
        let want = json!({"status": "200 OK", "status_code": 200, "protocol": "HTTP/1.1",
            "headers": {"Content-Type": ["text/plain"], "Content-Length": ["5"]}, "content_length": 5});
        assert_eq!(args("net_packet_http_response", r)[1]["value"], want);
        assert_eq!(
            line("net_packet_http", r),
            "127.0.0.1:8080 -> 127.0.0.1:40000 HTTP 200 OK"
        );
    }

    #[test]
    fn l3_l4_events() {
        let all = all_packets();
        let (syn, icmp, six) = (&all[4], &all[8], &all[9]);
        let t = args("net_packet_tcp", syn);
        assert_eq!(
            (&t[2]["value"], &t[4]["value"]),
            (&json!(40000), &json!({"direction": 2}))
        );
        let tv = &t[5]["value"];
        assert_eq!(
            (&tv["SYN"], &tv["ACK"], &tv["dataOffset"]),
            (&json!(1), &json!(0), &json!(6))
        );
        let want = "10.0.0.1:40000 -> 10.0.0.2:8080 TCP [SYN] seq=1000 ack=0 win=64240 len=0";
        assert_eq!(line("net_packet_tcp", syn), want);
        let v4 = &args("net_packet_ipv4", syn)[3]["value"];
        assert_eq!(
            (&v4["protocol"], &v4["flags"], &v4["IHL"]),
            (&json!("TCP"), &json!(2), &json!(5))
        );
        assert_eq!(fields("net_packet_ipv6", &pkt(syn)), None);
        assert_eq!(fields("net_packet_udp", &pkt(syn)), None);
        let want = json!({"typeCode": "EchoRequest", "checksum": 0xf7fd, "id": 1, "seq": 1});
        assert_eq!(args("net_packet_icmp", icmp)[3]["value"], want);
        let want = "10.0.0.1 -> 10.0.0.2 ICMP echo request id 1 seq 1";
        assert_eq!(line("net_packet_icmp", icmp), want);
        let want = json!({"typeCode": "EchoRequest", "checksum": 0x1234});
        assert_eq!(args("net_packet_icmpv6", six)[3]["value"], want);
        let want = json!({"version": 6, "trafficClass": 0, "flowLabel": 1, "length": 8,
            "nextHeader": "ICMPv6", "hopLimit": 64, "srcIP": "fe80::1", "dstIP": "fe80::2"});
        assert_eq!(args("net_packet_ipv6", six)[3]["value"], want);
        assert_eq!(fields("net_packet_icmp", &pkt(six)), None);
        // UDP DNS behind a hop-by-hop header; TCP DNS behind its length prefix.
        let hop = &args("net_packet_dns_request", &all[10])[1]["value"][0]["query"];
        assert_eq!(hop, &json!("example.com"));
        let tcp_dns = &args("net_packet_dns_request", &all[7])[0]["value"]["protocol"];
        assert_eq!(tcp_dns, &json!(6));
        assert_eq!(icmp_type_code(false, 3, 3), "DestinationUnreachable(Port)");
        assert_eq!(icmp_type_code(true, 200, 1), "200(1)");
        assert_eq!(
            ip_string(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 1, 2, 3, 4]),
            "1.2.3.4"
        );
        assert_eq!(
            args("net_packet_raw", icmp)[0]["value"],
            json!(base64(icmp))
        );
        let b64 = ["", "f", "fo", "foo", "foob"].map(|s| base64(s.as_bytes()));
        assert_eq!(b64, ["", "Zg==", "Zm8=", "Zm9v", "Zm9vYg=="]);
    }

    #[test]
    fn every_prefix_of_every_packet() {
        for full in all_packets() {
            for n in 0..=full.len() {
                let (bytes, len) = (&full[..n], full.len() as u32);
                let p = Packet {
                    bytes,
                    len,
                    ingress: true,
                    iface: "lo",
                    timestamp_ns: 0,
                };
                for event in EVENTS {
                    let (f, s) = (fields(event, &p), summary(event, &p));
                    assert_eq!(f.is_some(), s.is_some(), "{event} at {n}");
                    let s = s.unwrap_or_default();
                    assert!(!s.contains('\n') && s.chars().count() <= SUMMARY_MAX, "{s}");
                }
                let _ = dns_question_name(bytes);
            }
        }
    }
}
