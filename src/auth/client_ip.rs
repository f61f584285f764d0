//! The client's address, believing `X-Forwarded-For` only from trusted proxies.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The peer address, or, when the peer is a trusted proxy, the right-most address in
/// `X-Forwarded-For` that is not itself a trusted proxy (left-most entries are whatever
/// the client chose to send).
pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return Some(peer);
    }
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or("");
    let hops: Vec<IpAddr> = forwarded.split(',').filter_map(|h| h.trim().parse().ok()).collect();
    hops.iter().rev().find(|ip| !is_trusted(ip)).copied().or(hops.first().copied()).or(Some(peer))
}

/// The address as text for counters and audit rows.
pub fn client_ip_text(req: &HttpRequest, trusted: &[IpNet]) -> String {
    client_ip(req, trusted).map(|ip| ip.to_string()).unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    fn request(peer: &str, forwarded: Option<&str>) -> HttpRequest {
        let mut r = TestRequest::default().peer_addr(format!("{peer}:1234").parse().unwrap());
        if let Some(f) = forwarded {
            r = r.insert_header(("x-forwarded-for", f));
        }
        r.to_http_request()
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers() {
        let req = request("203.0.113.9", Some("198.51.100.1"));
        assert_eq!(client_ip_text(&req, &[]), "203.0.113.9");
    }

    #[test]
    fn forwarded_for_is_believed_from_trusted_proxies() {
        let trusted = vec!["10.0.0.0/8".parse().unwrap()];
        let req = request("10.0.0.2", Some("1.2.3.4, 198.51.100.1, 10.0.0.3"));
        assert_eq!(client_ip_text(&req, &trusted), "198.51.100.1");
    }
}
