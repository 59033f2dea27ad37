//! What a mesh decides about the requests of one connection, once everything about the connection itself
//! (who the client is, its address, the port) is known: a [`Decision`] over the request's attributes.
//!
//! A decision answers three questions. For a named request ([`Decision::decide`]): allowed, denied, or unknown
//! (an attribute the question did not give, an external authorizer). For the connection
//! ([`Decision::passability`]): whether no request, every request or only some may pass, found by evaluating
//! witness requests built from every value the decision tests. And which requests pass, in words
//! ([`Decision::allow_paths`]), for `can` and `reach` to list.

use crate::request::{PolicyRef, Request};
use netseg_model::mesh::istio::PathPattern;
use netseg_model::mesh::StringMatch;
use std::collections::BTreeMap;

/// An attribute of a request that a mesh may test.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attribute {
    Method,
    Path,
    Host,
    /// Lower-cased name.
    Header(String),
    /// Istio `requestPrincipals` / `request.auth.principal`: the validated JWT's `iss/sub`.
    JwtPrincipal,
    /// `request.auth.claims[NAME]`, `request.auth.audiences`, `request.auth.presenter`.
    JwtClaim(String),
    /// The TLS server name the client asked for (`connection.sni`).
    Sni,
    /// Envoy metadata (`experimental.envoy.filters.*`).
    Metadata(String),
    /// `http` or `tcp`: what the client sends on a port whose protocol the proxy detects per connection.
    Protocol,
}

impl Attribute {
    pub fn describe(&self) -> String {
        match self {
            Attribute::Method => "the request's method (--method)".into(),
            Attribute::Path => "the request's path (--path)".into(),
            Attribute::Host => "the request's host (--host)".into(),
            Attribute::Header(name) => format!("the request's {name} header (--header)"),
            Attribute::JwtPrincipal => "the request's JWT principal".into(),
            Attribute::JwtClaim(name) => format!("the request's JWT {name}"),
            Attribute::Sni => "the connection's TLS server name".into(),
            Attribute::Metadata(key) => format!("Envoy metadata {key}"),
            Attribute::Protocol => "whether the client speaks HTTP (--method, --path or --host say it does)".into(),
        }
    }

    /// A value of this attribute in a named request; `None` when the request does not say.
    fn of(&self, request: &Request) -> Option<Option<String>> {
        match self {
            Attribute::Method => request.method.clone().map(Some),
            Attribute::Path => request.path.clone().map(Some),
            Attribute::Host => request.host.clone().map(Some),
            Attribute::Header(name) => {
                request.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| Some(v.clone()))
            }
            // A request named by its method, path, host or headers is HTTP.
            Attribute::Protocol => (!request.is_unspecified()).then(|| Some("http".to_string())),
            // netseg never sees tokens, the TLS handshake or Envoy's metadata.
            Attribute::JwtPrincipal | Attribute::JwtClaim(_) | Attribute::Sni | Attribute::Metadata(_) => None,
        }
    }
}

/// A test of one attribute's value. A test on an attribute the request does not carry (no such header, no JWT)
/// fails.
#[derive(Debug, Clone)]
pub enum Test {
    /// Istio's exact, prefix, suffix and presence forms.
    Istio(StringMatch),
    /// The same, without regard to case (Istio hosts).
    IstioNoCase(StringMatch),
    IstioPath(PathPattern),
    Exact(String),
    Prefix(String),
    Suffix(String),
    /// Gateway API `PathPrefix`: whole path elements.
    PathElements(String),
    /// A regular expression that must match the whole value.
    Regex(regex::Regex),
    Present,
}

impl Test {
    fn holds(&self, value: &str) -> bool {
        match self {
            Test::Istio(m) => m.matches(value),
            Test::IstioNoCase(m) => m.matches_ignoring_case(value),
            Test::IstioPath(p) => p.matches(value),
            Test::Exact(v) => value == v,
            Test::Prefix(p) => value.starts_with(p.as_str()),
            Test::Suffix(s) => value.ends_with(s.as_str()),
            Test::PathElements(prefix) => path_elements_match(prefix, value),
            Test::Regex(re) => re.find(value).is_some_and(|m| m.start() == 0 && m.end() == value.len()),
            Test::Present => true,
        }
    }

    /// Values that land on every side of this test, for witness requests.
    fn witnesses(&self, out: &mut Vec<String>) {
        let mut string_match = |m: &StringMatch| match m {
            StringMatch::Exact(v) => out.push(v.clone()),
            StringMatch::Prefix(p) => {
                out.push(p.clone());
                out.push(format!("{p}~netseg"));
            }
            StringMatch::Suffix(s) => {
                out.push(s.clone());
                out.push(format!("/netseg~{s}"));
            }
            StringMatch::Presence => out.push("netseg".into()),
        };
        match self {
            Test::Istio(m) | Test::IstioNoCase(m) => string_match(m),
            Test::IstioPath(PathPattern::String(m)) => string_match(m),
            Test::IstioPath(PathPattern::Template(tokens)) => {
                use netseg_model::mesh::istio::TemplateToken;
                for rest in ["", "x/y"] {
                    let mut path = String::new();
                    for token in tokens {
                        match token {
                            TemplateToken::Literal(text) => path.push_str(text),
                            TemplateToken::One => path.push('x'),
                            TemplateToken::Rest => path.push_str(rest),
                        }
                    }
                    out.push(path);
                }
            }
            Test::Exact(v) => out.push(v.clone()),
            Test::Prefix(p) => {
                out.push(p.clone());
                out.push(format!("{p}~netseg"));
            }
            Test::Suffix(s) => out.push(format!("/netseg~{s}")),
            Test::PathElements(p) => {
                out.push(p.clone());
                out.push(format!("{}/netseg", p.trim_end_matches('/')));
                out.push(format!("{p}netseg"));
            }
            Test::Regex(re) => out.extend(regex_witness(re.as_str())),
            Test::Present => out.push("netseg".into()),
        }
    }
}

/// Gateway API's `PathPrefix`: `/foo` matches `/foo`, `/foo/` and `/foo/bar`, not `/foobar`.
fn path_elements_match(prefix: &str, path: &str) -> bool {
    let prefix = if prefix.len() > 1 { prefix.trim_end_matches('/') } else { prefix };
    path.starts_with(prefix) && (prefix == "/" || path.len() == prefix.len() || path[prefix.len()..].starts_with('/'))
}

/// A string the pattern accepts when it is a plain literal with optional anchors (the common case); other
/// patterns give no witness, and decisions that depend on them say their answer is approximate.
fn regex_witness(pattern: &str) -> Option<String> {
    let body = pattern.strip_prefix('^').unwrap_or(pattern);
    let body = body.strip_suffix('$').unwrap_or(body);
    let literal = body.replace(".*", "x");
    let plain = literal.chars().all(|c| c.is_ascii_alphanumeric() || "/-_~".contains(c));
    plain.then_some(literal)
}

/// A predicate over a request's attributes.
#[derive(Debug, Clone)]
pub enum Pred {
    True,
    False,
    Test { attribute: Attribute, test: Test },
    Not(Box<Pred>),
    All(Vec<Pred>),
    Any(Vec<Pred>),
}

impl Pred {
    pub fn test(attribute: Attribute, test: Test) -> Pred {
        Pred::Test { attribute, test }
    }

    pub fn negate(pred: Pred) -> Pred {
        match pred {
            Pred::True => Pred::False,
            Pred::False => Pred::True,
            other => Pred::Not(Box::new(other)),
        }
    }

    /// The conjunction, simplified.
    pub fn all(preds: Vec<Pred>) -> Pred {
        let mut kept = Vec::new();
        for pred in preds {
            match pred {
                Pred::True => {}
                Pred::False => return Pred::False,
                other => kept.push(other),
            }
        }
        match kept.len() {
            0 => Pred::True,
            1 => kept.pop().unwrap_or(Pred::True),
            _ => Pred::All(kept),
        }
    }

    /// The disjunction, simplified.
    pub fn any(preds: Vec<Pred>) -> Pred {
        let mut kept = Vec::new();
        for pred in preds {
            match pred {
                Pred::False => {}
                Pred::True => return Pred::True,
                other => kept.push(other),
            }
        }
        match kept.len() {
            0 => Pred::False,
            1 => kept.pop().unwrap_or(Pred::False),
            _ => Pred::Any(kept),
        }
    }

    /// Three-valued: `Some(b)` when the request decides it, `None` when it depends on what the request does not
    /// say.
    fn eval(&self, request: &Witness<'_>) -> Option<bool> {
        match self {
            Pred::True => Some(true),
            Pred::False => Some(false),
            Pred::Test { attribute, test } => request.get(attribute).map(|value| value.is_some_and(|v| test.holds(&v))),
            Pred::Not(inner) => inner.eval(request).map(|b| !b),
            Pred::All(preds) => {
                let mut unknown = false;
                for pred in preds {
                    match pred.eval(request) {
                        Some(false) => return Some(false),
                        None => unknown = true,
                        Some(true) => {}
                    }
                }
                (!unknown).then_some(true)
            }
            Pred::Any(preds) => {
                let mut unknown = false;
                for pred in preds {
                    match pred.eval(request) {
                        Some(true) => return Some(true),
                        None => unknown = true,
                        Some(false) => {}
                    }
                }
                (!unknown).then_some(false)
            }
        }
    }

    fn visit<'a>(&'a self, out: &mut Vec<(&'a Attribute, &'a Test)>) {
        match self {
            Pred::Test { attribute, test } => out.push((attribute, test)),
            Pred::Not(inner) => inner.visit(out),
            Pred::All(preds) | Pred::Any(preds) => preds.iter().for_each(|p| p.visit(out)),
            Pred::True | Pred::False => {}
        }
    }

    fn is_true(&self) -> bool {
        matches!(self, Pred::True)
    }
}

/// A predicate with the rule it comes from and what it matches in words.
#[derive(Debug, Clone)]
pub struct Clause {
    pub by: PolicyRef,
    pub pred: Pred,
    /// What the rule admits or refuses, in words ("POST only, from principal cluster.local/ns/a/sa/b").
    pub text: String,
}

#[derive(Debug, Clone)]
pub enum Decision {
    Allow {
        by: Option<PolicyRef>,
        why: String,
    },
    Deny {
        by: Option<PolicyRef>,
        why: String,
    },
    /// An external authorizer (Istio CUSTOM) decides whether the request goes on to `then`.
    External {
        provider: String,
        by: PolicyRef,
        then: Box<Decision>,
    },
    /// The first clause that matches decides; none matching falls to `otherwise`.
    FirstMatch {
        clauses: Vec<(Clause, Decision)>,
        otherwise: Box<Decision>,
    },
    /// Several ways to the destination that the client chooses between (Istio ambient: through the waypoint,
    /// or to the pod's address directly): a request passes if it passes one of them.
    AnyOf(Vec<(String, Decision)>),
}

/// What a decision makes of one named request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Allowed {
        by: Vec<PolicyRef>,
        why: String,
    },
    Denied {
        by: Vec<PolicyRef>,
        why: String,
    },
    /// Depends on attributes the request does not give, or on an external authorizer.
    Unknown {
        why: String,
    },
}

/// Whether no request, every request or some requests of a connection pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passability {
    None,
    All,
    Some,
}

/// The most witness requests tried for one decision; past it, the decision is taken as letting some pass.
const MAX_WITNESSES: usize = 20_000;

impl Decision {
    pub fn allow(why: impl Into<String>) -> Decision {
        Decision::Allow { by: None, why: why.into() }
    }

    pub fn deny(by: Option<PolicyRef>, why: impl Into<String>) -> Decision {
        Decision::Deny { by, why: why.into() }
    }

    /// The outcome for a named request; attributes it leaves out make the outcome unknown only where they matter.
    pub fn decide(&self, request: &Request) -> Outcome {
        self.eval(&Witness::Named(request))
    }

    fn eval(&self, request: &Witness<'_>) -> Outcome {
        match self {
            Decision::Allow { by, why } => Outcome::Allowed { by: by.iter().cloned().collect(), why: why.clone() },
            Decision::Deny { by, why } => Outcome::Denied { by: by.iter().cloned().collect(), why: why.clone() },
            Decision::External { provider, by, then } => match then.eval(request) {
                denied @ Outcome::Denied { .. } => denied,
                _ => Outcome::Unknown {
                    why: format!("the external authorizer `{provider}` decides ({by}, action CUSTOM)"),
                },
            },
            Decision::FirstMatch { clauses, otherwise } => first_match(clauses, otherwise, request),
            Decision::AnyOf(ways) => {
                let outcomes: Vec<Outcome> = ways.iter().map(|(_, d)| d.eval(request)).collect();
                if let Some(allowed) = outcomes.iter().find(|o| matches!(o, Outcome::Allowed { .. })) {
                    return allowed.clone();
                }
                if let Some(unknown) = outcomes.iter().find(|o| matches!(o, Outcome::Unknown { .. })) {
                    return unknown.clone();
                }
                let mut by = Vec::new();
                let mut why = Vec::new();
                for ((way, _), outcome) in ways.iter().zip(outcomes) {
                    if let Outcome::Denied { by: b, why: w } = outcome {
                        by.extend(b);
                        why.push(format!("{way}: {w}"));
                    }
                }
                Outcome::Denied { by, why: why.join("; ") }
            }
        }
    }

    /// Every test the decision makes, with its attribute.
    fn tests(&self) -> Vec<(&Attribute, &Test)> {
        let mut out = Vec::new();
        self.visit(&mut out);
        out
    }

    fn visit<'a>(&'a self, out: &mut Vec<(&'a Attribute, &'a Test)>) {
        match self {
            Decision::External { then, .. } => then.visit(out),
            Decision::FirstMatch { clauses, otherwise } => {
                for (clause, decision) in clauses {
                    clause.pred.visit(out);
                    decision.visit(out);
                }
                otherwise.visit(out);
            }
            Decision::AnyOf(ways) => ways.iter().for_each(|(_, d)| d.visit(out)),
            Decision::Allow { .. } | Decision::Deny { .. } => {}
        }
    }

    /// Whether no, every or some request passes, by evaluating a witness request for every combination of the
    /// values the decision tests. An external authorizer counts as letting a request pass (its verdict is not
    /// in the input, and reachability is never under-reported).
    pub fn passability(&self) -> Passability {
        let tests = self.tests();
        let mut candidates: BTreeMap<Attribute, Vec<Option<String>>> = BTreeMap::new();
        let mut approximate = false;
        for (attribute, test) in &tests {
            let entry = candidates.entry((*attribute).clone()).or_insert_with(|| base_values(attribute));
            let mut values = Vec::new();
            test.witnesses(&mut values);
            if matches!(test, Test::Regex(_)) && values.is_empty() {
                approximate = true;
            }
            for value in values {
                if !entry.contains(&Some(value.clone())) {
                    entry.push(Some(value));
                }
            }
        }
        let attributes: Vec<(&Attribute, &Vec<Option<String>>)> = candidates.iter().collect();
        let total = attributes.iter().try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()));
        if total.is_none_or(|t| t > MAX_WITNESSES) {
            return Passability::Some;
        }
        let (mut any_pass, mut any_block) = (false, false);
        let mut index = vec![0usize; attributes.len()];
        loop {
            let values: BTreeMap<&Attribute, Option<&str>> = attributes
                .iter()
                .zip(&index)
                .map(|((attribute, values), i)| (*attribute, values[*i].as_deref()))
                .collect();
            match self.eval(&Witness::Complete(&values)) {
                Outcome::Denied { .. } => any_block = true,
                _ => any_pass = true,
            }
            if any_pass && any_block {
                return Passability::Some;
            }
            // The next combination.
            let mut position = 0;
            loop {
                if position == index.len() {
                    return match (any_pass, any_block) {
                        (true, false) => Passability::All,
                        // A pattern no witness reaches may still admit a request: stay on the side of reach.
                        (false, _) if approximate => Passability::Some,
                        (false, _) => Passability::None,
                        (true, true) => Passability::Some,
                    };
                }
                index[position] += 1;
                if index[position] < attributes[position].1.len() {
                    break;
                }
                index[position] = 0;
                position += 1;
            }
        }
    }

    fn can_deny(&self) -> bool {
        match self {
            Decision::Allow { .. } => false,
            Decision::Deny { .. } | Decision::External { .. } => true,
            Decision::FirstMatch { clauses, otherwise } => {
                clauses.iter().any(|(_, d)| d.can_deny()) || otherwise.can_deny()
            }
            Decision::AnyOf(ways) => ways.iter().all(|(_, d)| d.can_deny()),
        }
    }

    fn can_allow(&self) -> bool {
        match self {
            Decision::Allow { .. } => true,
            Decision::Deny { .. } => false,
            Decision::External { then, .. } => then.can_allow(),
            Decision::FirstMatch { clauses, otherwise } => {
                clauses.iter().any(|(_, d)| d.can_allow()) || otherwise.can_allow()
            }
            Decision::AnyOf(ways) => ways.iter().any(|(_, d)| d.can_allow()),
        }
    }

    /// The ways a request passes: for each, the clauses it must match and the clauses it must not (earlier
    /// clauses that would refuse it), and the external authorizers it goes through.
    pub fn allow_paths(&self) -> Vec<AllowPath> {
        match self {
            Decision::Allow { by, why } => vec![AllowPath { by: by.clone(), why: why.clone(), ..AllowPath::default() }],
            Decision::Deny { .. } => Vec::new(),
            Decision::External { provider, by, then } => then
                .allow_paths()
                .into_iter()
                .map(|mut path| {
                    path.external.push(format!("the external authorizer `{provider}` ({by}) allows it"));
                    path
                })
                .collect(),
            Decision::FirstMatch { clauses, otherwise } => {
                let mut paths = Vec::new();
                let mut refusing: Vec<&Clause> = Vec::new();
                for (clause, decision) in clauses {
                    if decision.can_allow() && !matches!(clause.pred, Pred::False) {
                        for mut path in decision.allow_paths() {
                            path.unless.splice(0..0, refusing.iter().map(|c| (*c).clone()));
                            if !clause.pred.is_true() {
                                path.must.insert(0, clause.clone());
                            }
                            paths.push(path);
                        }
                    }
                    if decision.can_deny() && !matches!(clause.pred, Pred::False) {
                        refusing.push(clause);
                    }
                    if clause.pred.is_true() {
                        return paths;
                    }
                }
                for mut path in otherwise.allow_paths() {
                    path.unless.splice(0..0, refusing.iter().map(|c| (*c).clone()));
                    paths.push(path);
                }
                paths
            }
            Decision::AnyOf(ways) => ways
                .iter()
                .flat_map(|(way, decision)| {
                    decision.allow_paths().into_iter().map(move |mut path| {
                        path.way = Some(way.clone());
                        path
                    })
                })
                .collect(),
        }
    }
}

/// One way requests pass a decision.
#[derive(Debug, Clone, Default)]
pub struct AllowPath {
    pub must: Vec<Clause>,
    pub unless: Vec<Clause>,
    pub external: Vec<String>,
    /// The final allow's own citation (a default, when no clause admits it).
    pub by: Option<PolicyRef>,
    pub why: String,
    /// Which of several ways to the destination this is (Istio ambient), when there are several.
    pub way: Option<String>,
}

impl AllowPath {
    /// The rule to cite for this way in: the last clause it must match, else the default that allows it.
    pub fn citation(&self) -> Option<PolicyRef> {
        self.must.last().map(|c| c.by.clone()).or_else(|| self.by.clone())
    }

    /// In words: "POST only, from principal X; unless GET /admin (Istio DENY default/no-admin rule 0)".
    pub fn describe(&self) -> String {
        let mut text = if self.must.is_empty() {
            format!("any request ({})", self.why)
        } else {
            self.must.iter().map(|c| c.text.clone()).collect::<Vec<_>>().join(", ")
        };
        if !self.unless.is_empty() {
            let unless: Vec<String> = self.unless.iter().map(|c| format!("{} ({})", c.text, c.by)).collect();
            text.push_str(&format!("; unless {}", unless.join(" or ")));
        }
        for external in &self.external {
            text.push_str(&format!("; if {external}"));
        }
        if let Some(way) = &self.way {
            text = format!("{way}: {text}");
        }
        text
    }
}

fn first_match(clauses: &[(Clause, Decision)], otherwise: &Decision, request: &Witness<'_>) -> Outcome {
    let Some(((clause, decision), rest)) = clauses.split_first() else { return otherwise.eval(request) };
    match clause.pred.eval(request) {
        Some(true) => decision.eval(request),
        Some(false) => first_match(rest, otherwise, request),
        None => {
            let taken = decision.eval(request);
            let skipped = first_match(rest, otherwise, request);
            match (&taken, &skipped) {
                (Outcome::Allowed { .. }, Outcome::Allowed { .. })
                | (Outcome::Denied { .. }, Outcome::Denied { .. }) => taken,
                _ => {
                    let mut tests = Vec::new();
                    clause.pred.visit(&mut tests);
                    let mut missing: Vec<String> =
                        tests.iter().filter(|(a, _)| request.get(a).is_none()).map(|(a, _)| a.describe()).collect();
                    missing.sort();
                    missing.dedup();
                    Outcome::Unknown { why: format!("{} decides whether {} applies", missing.join(" and "), clause.by) }
                }
            }
        }
    }
}

/// The values every attribute takes besides the tested ones: absent (where a request may lack it) and some
/// value no test names.
fn base_values(attribute: &Attribute) -> Vec<Option<String>> {
    match attribute {
        Attribute::Method => vec![Some("NETSEG".into())],
        Attribute::Path => vec![Some("/netseg~other".into())],
        Attribute::Host => vec![Some("netseg.invalid".into())],
        Attribute::Header(_)
        | Attribute::JwtPrincipal
        | Attribute::JwtClaim(_)
        | Attribute::Sni
        | Attribute::Metadata(_) => vec![None, Some("netseg~other".into())],
        Attribute::Protocol => vec![Some("http".into()), Some("tcp".into())],
    }
}

/// A request as a decision sees it: named by the user (attributes may be unknown), or a complete witness.
enum Witness<'a> {
    Named(&'a Request),
    Complete(&'a BTreeMap<&'a Attribute, Option<&'a str>>),
}

impl Witness<'_> {
    /// `None`: not known; `Some(None)`: known absent; `Some(Some(v))`: the value.
    fn get(&self, attribute: &Attribute) -> Option<Option<String>> {
        match self {
            Witness::Named(request) => attribute.of(request),
            Witness::Complete(values) => Some(values.get(attribute).copied().flatten().map(str::to_string)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(name: &str) -> PolicyRef {
        PolicyRef {
            kind: "AuthorizationPolicy".into(),
            namespace: Some("default".into()),
            name: name.into(),
            rule: Some(0),
            location: None,
        }
    }

    fn method(m: &str) -> Pred {
        Pred::test(Attribute::Method, Test::Istio(StringMatch::Exact(m.into())))
    }

    /// Istio's order for one workload with an ALLOW POST rule and a DENY rule on `/admin*`.
    fn post_but_not_admin() -> Decision {
        let allow = Decision::FirstMatch {
            clauses: vec![(
                Clause { by: reference("writer"), pred: method("POST"), text: "POST only".into() },
                Decision::Allow { by: Some(reference("writer")), why: "allowed".into() },
            )],
            otherwise: Box::new(Decision::deny(None, "no ALLOW rule matches")),
        };
        let path =
            Pred::test(Attribute::Path, Test::IstioPath(PathPattern::String(StringMatch::Prefix("/admin".into()))));
        Decision::FirstMatch {
            clauses: vec![(
                Clause { by: reference("no-admin"), pred: path, text: "/admin*".into() },
                Decision::deny(Some(reference("no-admin")), "denied"),
            )],
            otherwise: Box::new(allow),
        }
    }

    #[test]
    fn named_requests_are_decided_where_they_can_be() {
        let decision = post_but_not_admin();
        let post = Request { method: Some("POST".into()), path: Some("/shoes".into()), ..Request::default() };
        assert!(matches!(decision.decide(&post), Outcome::Allowed { .. }));
        let get = Request { method: Some("GET".into()), ..Request::default() };
        assert!(matches!(decision.decide(&get), Outcome::Denied { .. }), "GET is denied whatever the path");
        let post_no_path = Request { method: Some("POST".into()), ..Request::default() };
        let Outcome::Unknown { why } = decision.decide(&post_no_path) else { panic!("depends on the path") };
        assert!(why.contains("path"), "{why}");
    }

    #[test]
    fn witnesses_find_some_all_and_none() {
        assert_eq!(post_but_not_admin().passability(), Passability::Some);
        let everything = Decision::allow("no policy");
        assert_eq!(everything.passability(), Passability::All);
        let contradiction = Decision::FirstMatch {
            clauses: vec![(
                Clause { by: reference("deny-get"), pred: method("GET"), text: "GET".into() },
                Decision::deny(None, "denied"),
            )],
            otherwise: Box::new(Decision::FirstMatch {
                clauses: vec![(
                    Clause { by: reference("allow-get"), pred: method("GET"), text: "GET".into() },
                    Decision::allow("allowed"),
                )],
                otherwise: Box::new(Decision::deny(None, "no ALLOW rule matches")),
            }),
        };
        assert_eq!(contradiction.passability(), Passability::None);
    }

    #[test]
    fn allow_paths_list_what_passes_and_what_refuses() {
        let paths = post_but_not_admin().allow_paths();
        assert_eq!(paths.len(), 1);
        assert_eq!(paths[0].describe(), "POST only; unless /admin* (AuthorizationPolicy default/no-admin rule 0)");
        assert_eq!(paths[0].citation().map(|r| r.name), Some("writer".into()));
    }

    #[test]
    fn gateway_path_prefixes_match_whole_elements() {
        assert!(path_elements_match("/authors/", "/authors/1.json"));
        assert!(path_elements_match("/authors", "/authors"));
        assert!(!path_elements_match("/authors", "/authorsx"));
        assert!(path_elements_match("/", "/anything"));
    }
}
