//! `docs/rules.md`, generated from the rules' own documentation.

use crate::rules::REGISTRY;

/// The rules reference page.
pub fn rules_markdown() -> String {
    let mut out = String::from(
        "# netseg rules\n\n<!-- Generated from the rules' doc comments in crates/audit/src/rules; a test fails when this file is \
         stale, and `NETSEG_UPDATE_DOCS=1 cargo test -p netseg-audit` rewrites it. -->\n\n| ID | name | default severity | summary |\n|---|---|---|---|\n",
    );
    for (rule, _) in REGISTRY {
        out.push_str(&format!(
            "| [{code}](#{anchor}) | `{name}` | {severity} | {summary} |\n",
            code = rule.code,
            anchor = format!("{}-{}", rule.code, rule.name).to_lowercase(),
            name = rule.name,
            severity = rule.severity.as_str(),
            summary = rule.summary().replace('|', "\\|"),
        ));
    }
    for (rule, _) in REGISTRY {
        out.push_str(&format!(
            "\n## {} {}\n\nDefault severity: **{}**.\n\n",
            rule.code,
            rule.name,
            rule.severity.as_str()
        ));
        for line in rule.docs.lines() {
            // Doc comments keep the space after `///`; headings move down one level under the rule's own.
            let line = line.strip_prefix(' ').unwrap_or(line);
            let line = if line.starts_with("## ") { format!("#{line}") } else { line.to_string() };
            out.push_str(line.trim_end());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    /// `docs/rules.md` must be what the code says; `NETSEG_UPDATE_DOCS=1 cargo test` rewrites it.
    #[test]
    fn rules_reference_is_up_to_date() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/rules.md");
        let generated = rules_markdown();
        if std::env::var_os("NETSEG_UPDATE_DOCS").is_some() {
            std::fs::write(&path, &generated).expect("write docs/rules.md");
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/rules.md is stale: run `NETSEG_UPDATE_DOCS=1 cargo test -p netseg-audit`"
        );
    }

    #[test]
    fn codes_and_names_are_unique_and_stable() {
        let codes: Vec<String> =
            REGISTRY.iter().map(|(r, _)| format!("{} {} {}", r.code, r.name, r.severity.as_str())).collect();
        let expected = [
            "NS101 namespace-without-policy high",
            "NS102 no-default-deny-ingress medium",
            "NS103 no-default-deny-egress medium",
            "NS110 host-network medium",
            "NS111 host-port medium",
            "NS120 metadata-reachable high",
            "NS121 api-server-reachable medium",
            "NS122 kube-system-reachable medium",
            "NS123 node-reachable medium",
            "NS124 internet-egress medium",
            "NS125 sensitive-port-exposed high",
            "NS126 open-to-all-namespaces medium",
            "NS130 cni-not-enforcing critical",
            "NS131 cni-unknown info",
            "NS132 unmodelled-policy info",
            "NS140 policy-selects-nothing low",
            "NS141 peer-selects-nothing low",
            "NS142 unresolved-named-port medium",
            "NS143 ignored-rules medium",
            "NS144 malformed-policy high",
            "NS145 dns-blocked medium",
            "NS146 allow-all-policy medium",
            "NS147 declared-flow-blocked high",
            "NS148 unused-allowance low",
            "NS150 admin-same-priority medium",
            "NS151 shadowed-admin-rule medium",
            "NS152 baseline-not-default high",
            "NS160 cross-tenant-reachable high",
            "NS170 calico-pass-to-profile medium",
            "NS171 calico-tier-drops-unmatched medium",
            "NS172 calico-host-endpoint-policy low",
            "NS180 cilium-policy-inert high",
            "NS181 cilium-enforcement-never critical",
            "NS182 fqdn-without-dns-rule medium",
            "NS183 cilium-world-egress medium",
            "NS184 l4-allow-cancels-l7 high",
            "NS185 cilium-cidr-aimed-at-pods medium",
            "NS186 cilium-deny-cuts-allow medium",
            "NS187 cilium-host-policy low",
            "NS188 ipblock-ignored-for-pods medium",
            "NS190 mesh-policy-without-proxy high",
            "NS191 plaintext-escapes-identity-rule medium",
            "NS192 mesh-allow-unreachable medium",
            "NS193 mesh-admits-every-client medium",
            "NS194 proxy-bypass-port high",
            "NS195 ambient-l7-rule-at-ztunnel high",
            "NS196 ambient-hbone-blocked high",
            "NS197 mesh-only-control low",
            "NS198 deny-rule-blocks-tcp-port medium",
        ];
        assert_eq!(codes, expected);
        for (rule, _) in REGISTRY {
            for heading in ["## What it does", "## Why it matters", "## Example", "## How to fix"] {
                assert!(rule.docs.contains(heading), "{} lacks `{heading}`", rule.code);
            }
        }
    }
}
