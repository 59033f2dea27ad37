//! netpol-analyzer's connectivity-list syntax (`../shared/corpus/netpol-analyzer/FORMAT.md`), shared by the
//! conformance tests that read its answers.

use netseg_engine::PortSet;
use netseg_model::Protocol;

pub fn parse_line(line: &str) -> Result<(String, String, PortSet), String> {
    let (src, rest) = line.split_once(" => ").ok_or("no ` => `")?;
    let (dst, conns) = rest.split_once(" : ").ok_or("no ` : `")?;
    Ok((src.trim().to_string(), dst.trim().to_string(), parse_ports(conns.trim())?))
}

/// `All Connections`, or comma-joined items where `TCP `/`UDP `/`SCTP ` starts a protocol and each item is a port
/// or an inclusive range (FORMAT.md, "Connection string").
pub fn parse_ports(text: &str) -> Result<PortSet, String> {
    match text {
        "All Connections" => return Ok(PortSet::all()),
        "No Connections" => return Ok(PortSet::empty()),
        _ => {}
    }
    let mut ranges = Vec::new();
    let mut protocol = None;
    for token in text.split(',') {
        let token = match token.split_once(' ') {
            Some((name, rest)) => {
                protocol = Some(Protocol::from_api(name).ok_or_else(|| format!("unknown protocol `{name}`"))?);
                rest
            }
            None => token,
        };
        let protocol = protocol.ok_or_else(|| format!("ports `{token}` before any protocol"))?;
        let port = |t: &str| t.parse::<u16>().map_err(|_| format!("bad port `{t}`"));
        let (start, end) = match token.split_once('-') {
            Some((a, b)) => (port(a)?, port(b)?),
            None => (port(token)?, port(token)?),
        };
        if start == 0 || start > end {
            return Err(format!("bad range `{token}`"));
        }
        ranges.push((protocol, start, end));
    }
    Ok(PortSet::from_ranges(&ranges))
}

/// A port set as netpol-analyzer writes it.
pub fn ports_text(set: &PortSet) -> String {
    if *set == PortSet::all() {
        return "All Connections".into();
    }
    if set.is_empty() {
        return "No Connections".into();
    }
    let mut items = Vec::new();
    for protocol in [Protocol::Sctp, Protocol::Tcp, Protocol::Udp] {
        let ranges: Vec<String> = set
            .ranges(protocol)
            .iter()
            .map(|&(a, b)| if a == b { a.to_string() } else { format!("{a}-{b}") })
            .collect();
        if !ranges.is_empty() {
            items.push(format!("{protocol} {}", ranges.join(",")));
        }
    }
    items.join(",")
}
