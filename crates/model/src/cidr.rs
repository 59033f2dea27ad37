//! CIDRs as the API server reads them: a non-canonical CIDR (host bits set) means the masked network.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Cidr {
    /// The network address, host bits cleared.
    pub network: IpAddr,
    pub prefix: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("`{0}` is not a CIDR: expected ADDRESS/PREFIX such as 10.0.0.0/8 or fd00::/8")]
    NoPrefix(String),
    #[error("`{0}` is not a CIDR: `{1}` is not an IP address")]
    BadAddress(String, String),
    #[error("`{0}` is not a CIDR: the prefix length must be 0 to {1}")]
    BadPrefix(String, u8),
}

impl Cidr {
    pub fn max_prefix(addr: IpAddr) -> u8 {
        if addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    /// A CIDR, or a bare address as the block of that address alone (`10.0.0.1` is `10.0.0.1/32`, `fd00::1` is
    /// `fd00::1/128`): how people name an address or a range on the command line.
    pub fn parse_address_or_block(text: &str) -> Result<Cidr, CidrError> {
        if text.contains('/') {
            text.parse()
        } else {
            let bits = if text.contains(':') { 128 } else { 32 };
            format!("{text}/{bits}").parse()
        }
    }

    /// The first and last address as 128-bit numbers within their family (IPv4 uses the low 32 bits).
    pub fn bounds(&self) -> (u128, u128) {
        let bits = u32::from(Self::max_prefix(self.network));
        let host_bits = bits - u32::from(self.prefix);
        let start = ip_to_u128(self.network);
        let span = if host_bits >= 128 { u128::MAX } else { (1u128 << host_bits) - 1 };
        (start, start | span)
    }

    pub fn contains(&self, addr: IpAddr) -> bool {
        if addr.is_ipv4() != self.network.is_ipv4() {
            return false;
        }
        let (start, end) = self.bounds();
        let value = ip_to_u128(addr);
        start <= value && value <= end
    }

    /// Whether `other` lies inside this CIDR and is strictly smaller, as `except` entries must.
    pub fn strictly_contains(&self, other: &Cidr) -> bool {
        self.contains(other.network) && other.prefix > self.prefix
    }
}

pub fn ip_to_u128(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(v4) => u128::from(u32::from(v4)),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl FromStr for Cidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (addr_text, prefix_text) = text.split_once('/').ok_or_else(|| CidrError::NoPrefix(text.to_string()))?;
        let addr =
            IpAddr::from_str(addr_text).map_err(|_| CidrError::BadAddress(text.to_string(), addr_text.to_string()))?;
        let max = Self::max_prefix(addr);
        let prefix: u8 = prefix_text
            .parse()
            .ok()
            .filter(|p| *p <= max && !prefix_text.starts_with('+'))
            .ok_or_else(|| CidrError::BadPrefix(text.to_string(), max))?;
        let host_bits = u32::from(max - prefix);
        let network = match addr {
            IpAddr::V4(v4) => {
                let mask = if host_bits >= 32 { 0 } else { u32::MAX << host_bits };
                IpAddr::from((u32::from(v4) & mask).to_be_bytes())
            }
            IpAddr::V6(v6) => {
                let mask = if host_bits >= 128 { 0 } else { u128::MAX << host_bits };
                IpAddr::from((u128::from(v6) & mask).to_be_bytes())
            }
        };
        Ok(Cidr { network, prefix })
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_address_is_the_block_of_that_address_alone() {
        let v4 = Cidr::parse_address_or_block("10.0.0.7").expect("address");
        assert_eq!(v4.to_string(), "10.0.0.7/32");
        assert_eq!(Cidr::parse_address_or_block("fd00::1").expect("address").to_string(), "fd00::1/128");
        assert_eq!(Cidr::parse_address_or_block("10.1.2.3/16").expect("block").to_string(), "10.1.0.0/16");
        let error = Cidr::parse_address_or_block("api.example").expect_err("a name is no address");
        assert_eq!(error.to_string(), "`api.example/32` is not a CIDR: `api.example` is not an IP address");
    }

    #[test]
    fn host_bits_mean_the_masked_network() {
        let cidr: Cidr = "10.244.1.10/4".parse().expect("valid");
        assert_eq!(cidr.to_string(), "0.0.0.0/4");
        assert!(cidr.contains("15.255.255.255".parse().expect("ip")));
        assert!(!cidr.contains("16.0.0.0".parse().expect("ip")));
    }

    #[test]
    fn ipv6_and_families_stay_apart() {
        let cidr: Cidr = "fd00:ec2::254/128".parse().expect("valid");
        assert!(cidr.contains("fd00:ec2::254".parse().expect("ip")));
        assert!(!cidr.contains("169.254.169.254".parse().expect("ip")));
        let all: Cidr = "::/0".parse().expect("valid");
        assert_eq!(all.bounds(), (0, u128::MAX));
    }

    #[test]
    fn bad_cidrs_are_rejected() {
        assert!("10.0.0.0".parse::<Cidr>().is_err());
        assert!("10.0.0.0/33".parse::<Cidr>().is_err());
        assert!("10.0.0/8".parse::<Cidr>().is_err());
        assert!("::/129".parse::<Cidr>().is_err());
    }

    #[test]
    fn except_must_be_strictly_inside() {
        let outer: Cidr = "10.0.0.0/8".parse().expect("valid");
        assert!(outer.strictly_contains(&"10.1.0.0/16".parse().expect("valid")));
        assert!(!outer.strictly_contains(&"10.0.0.0/8".parse().expect("valid")));
        assert!(!outer.strictly_contains(&"11.0.0.0/16".parse().expect("valid")));
    }
}
