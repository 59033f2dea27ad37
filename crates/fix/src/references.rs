//! Service references in container strings: `redis`, `redis.blog`, `redis.blog.svc.cluster.local`,
//! `redis://user@redis.blog.svc.cluster.local:6379/0`, `mysql:3306`, `--db-host=mysql`.
//!
//! A name is resolved the way a pod's resolver does it: with the search list `<ns>.svc.<domain>`, `svc.<domain>`,
//! `<domain>` and `ndots:5` (names with fewer than five dots try the search list first), taking the first name
//! that a Service in the input answers. `<pod>.<service>.<ns>.svc.<domain>` names a pod of a headless Service.

use netseg_model::{Cluster, Service};
use std::collections::HashMap;

/// A host named in a string, with the port and URL scheme written next to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostMention {
    pub host: String,
    pub port: Option<u16>,
    pub scheme: Option<String>,
}

/// Every well-formed host name in `text`, in order. Tokens are split at spaces and at the punctuation that
/// separates values in command lines and connection strings; `KEY=value` yields the value.
pub fn mentions(text: &str) -> Vec<HostMention> {
    let separators = |c: char| {
        c.is_whitespace() || matches!(c, ',' | ';' | '"' | '\'' | '(' | ')' | '[' | ']' | '{' | '}' | '<' | '>' | '|')
    };
    let mut found = Vec::new();
    for token in text.split(separators).filter(|t| !t.is_empty()) {
        // Oracle's thin JDBC form: `jdbc:oracle:thin:@//db:1521/service` or `...:@db:1521:SID`.
        if let Some((_, rest)) = token.split_once(":@") {
            let rest = rest.trim_start_matches('/');
            let host_port: String = rest.splitn(3, ':').take(2).collect::<Vec<_>>().join(":");
            found.extend(authority(&host_port).map(|(host, port)| HostMention { host, port, scheme: None }));
            continue;
        }
        if let Some((scheme, rest)) = token.split_once("://") {
            let scheme = scheme.rsplit('=').next().unwrap_or(scheme).to_ascii_lowercase();
            // `jdbc:postgresql://pg/db` is a PostgreSQL URL.
            let scheme = scheme.strip_prefix("jdbc:").map(str::to_string).unwrap_or(scheme);
            found.extend(authority(rest).map(|(host, port)| HostMention { host, port, scheme: Some(scheme) }));
        } else {
            for piece in token.split('=') {
                found.extend(authority(piece).map(|(host, port)| HostMention { host, port, scheme: None }));
            }
        }
    }
    found
}

/// `[user[:password]@]host[:port][/path]` → host and port, when the host is a DNS name.
fn authority(text: &str) -> Option<(String, Option<u16>)> {
    let end = text.find(['/', '?', '#']).unwrap_or(text.len());
    let authority = &text[..end];
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if authority.starts_with('[') {
        return None; // an IPv6 literal, not a name
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port.parse::<u16>().ok().filter(|p| *p > 0)?)),
        None => (authority, None),
    };
    let host = host.to_ascii_lowercase();
    is_dns_name(host.trim_end_matches('.')).then_some((host, port))
}

fn is_dns_name(name: &str) -> bool {
    let labels: Vec<&str> = name.split('.').collect();
    !name.is_empty()
        && name.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
        // An address such as 10.0.0.1 is not a name.
        && !labels.iter().all(|label| label.chars().all(|c| c.is_ascii_digit()))
}

/// The cluster's Services by namespace and name, for resolving many names (the first of duplicates, as a scan
/// would find it).
pub struct Services<'c>(HashMap<(&'c str, &'c str), &'c Service>);

impl<'c> Services<'c> {
    pub fn new(cluster: &'c Cluster) -> Services<'c> {
        let mut index = HashMap::with_capacity(cluster.services.len());
        for service in &cluster.services {
            index.entry((service.namespace.as_str(), service.name.as_str())).or_insert(service);
        }
        Services(index)
    }
}

/// The Service a name resolves to from a pod in `namespace`, as the cluster's resolver would find it.
pub fn resolve<'c>(services: &Services<'c>, namespace: &str, host: &str, cluster_domain: &str) -> Option<&'c Service> {
    let absolute = host.ends_with('.');
    let host = host.trim_end_matches('.');
    let search =
        [format!("{namespace}.svc.{cluster_domain}"), format!("svc.{cluster_domain}"), cluster_domain.to_string()];
    let mut candidates: Vec<String> = Vec::new();
    if absolute || host.matches('.').count() >= 5 {
        candidates.push(host.to_string());
    }
    if !absolute {
        candidates.extend(search.iter().map(|suffix| format!("{host}.{suffix}")));
        if host.matches('.').count() < 5 {
            candidates.push(host.to_string());
        }
    }
    let suffix = format!(".svc.{cluster_domain}");
    candidates.iter().find_map(|fqdn| {
        let name = fqdn.strip_suffix(&suffix)?;
        let find = |service: &str, ns: &str| services.0.get(&(ns, service)).copied();
        match name.split('.').collect::<Vec<_>>().as_slice() {
            [service, ns] => find(service, ns),
            [_pod, service, ns] => find(service, ns).filter(|s| s.headless),
            _ => None,
        }
    })
}

/// The port a URL scheme uses when the URL names none.
pub fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "redis" | "rediss" => 6379,
        "mysql" | "mariadb" => 3306,
        "sqlserver" => 1433,
        "postgres" | "postgresql" => 5432,
        "mongodb" => 27017,
        "amqp" => 5672,
        "amqps" => 5671,
        "nats" => 4222,
        "memcached" => 11211,
        "mqtt" => 1883,
        "mqtts" => 8883,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use netseg_model::{load_bytes, Inventory};
    use std::sync::Arc;

    fn hosts(text: &str) -> Vec<(String, Option<u16>)> {
        mentions(text).into_iter().map(|m| (m.host, m.port)).collect()
    }

    #[test]
    fn finds_hosts_in_urls_pairs_and_flags() {
        assert_eq!(hosts("redis"), [("redis".to_string(), None)]);
        assert_eq!(
            hosts("mysql.blog.svc.cluster.local:3306"),
            [("mysql.blog.svc.cluster.local".to_string(), Some(3306))]
        );
        let url = mentions("redis://user:secret@redis.blog.svc.cluster.local:6379/0?x=y");
        assert_eq!(
            (url[0].host.as_str(), url[0].port, url[0].scheme.as_deref()),
            ("redis.blog.svc.cluster.local", Some(6379), Some("redis"))
        );
        assert_eq!(hosts("--db-host=mysql"), [("mysql".to_string(), None)]);
        assert_eq!(hosts("10.0.0.1:80 [::1]:80 host:http"), Vec::<(String, Option<u16>)>::new());
        assert_eq!(hosts("DB_URL=postgres://app@PG:5432/db"), [("pg".to_string(), Some(5432))]);
    }

    #[test]
    fn finds_hosts_in_connection_strings() {
        let jdbc = mentions("jdbc:postgresql://pg.data/orders?ssl=true");
        assert_eq!(
            (jdbc[0].host.as_str(), jdbc[0].port, jdbc[0].scheme.as_deref()),
            ("pg.data", None, Some("postgresql"))
        );
        assert_eq!(hosts("jdbc:mysql://mysql:3306/db"), [("mysql".to_string(), Some(3306))]);
        // The properties after `;` are tokens too; they resolve only if a Service has their name.
        assert_eq!(hosts("jdbc:sqlserver://mssql:1433;databaseName=x")[0], ("mssql".to_string(), Some(1433)));
        assert_eq!(hosts("jdbc:oracle:thin:@//ora:1521/svc"), [("ora".to_string(), Some(1521))]);
        assert_eq!(hosts("jdbc:oracle:thin:@ora:1521:SID"), [("ora".to_string(), Some(1521))]);
        assert_eq!(
            hosts("mongodb://app:s3cret@mongo-0.mongo:27017,mongo-1.mongo:27017/db?replicaSet=rs0")[..2],
            [("mongo-0.mongo".to_string(), Some(27017)), ("mongo-1.mongo".to_string(), Some(27017))]
        );
        assert_eq!(hosts("amqp://guest:guest@rabbitmq:5672/"), [("rabbitmq".to_string(), Some(5672))]);
        assert_eq!(hosts("rediss://:pw@cache:6380/1"), [("cache".to_string(), Some(6380))]);
        assert_eq!(
            hosts("kafka-0.kafka:9092,kafka-1.kafka:9092"),
            [("kafka-0.kafka".to_string(), Some(9092)), ("kafka-1.kafka".to_string(), Some(9092))]
        );
    }

    #[test]
    fn finds_hosts_in_more_connection_string_forms() {
        let srv = mentions("mongodb+srv://app:pw@mongo.data/orders?retryWrites=true");
        assert_eq!(
            (srv[0].host.as_str(), srv[0].port, srv[0].scheme.as_deref()),
            ("mongo.data", None, Some("mongodb+srv"))
        );
        assert_eq!(
            hosts("mongodb://a:27017,b:27018/db"),
            [("a".to_string(), Some(27017)), ("b".to_string(), Some(27018))]
        );
        let amqp = mentions("amqp://user:pass@rabbitmq:5672/vhost");
        assert_eq!(
            (amqp[0].host.as_str(), amqp[0].port, amqp[0].scheme.as_deref()),
            ("rabbitmq", Some(5672), Some("amqp"))
        );
        let redis = mentions("redis://redis-master.cache");
        assert_eq!((redis[0].port, default_port("redis")), (None, Some(6379)));
        assert_eq!(
            hosts("PLAINTEXT://kafka-0.kafka:9092,PLAINTEXT://kafka-1.kafka:9092"),
            [("kafka-0.kafka".to_string(), Some(9092)), ("kafka-1.kafka".to_string(), Some(9092))]
        );
        assert_eq!(hosts("jdbc:mariadb://db:3306/app")[0], ("db".to_string(), Some(3306)));
        assert_eq!(default_port("sqlserver"), Some(1433), "jdbc:sqlserver://mssql;databaseName=x");
        // No part of the user information is ever a host: `user:pass@`, a password with `@`, `:` or `;` in it.
        for url in [
            "postgres://app:hunter2@pg:5432/db",
            "amqp://app:hun@ter2@rabbit/",
            "redis://:hunter2:x@cache:6379",
            "jdbc:mysql://app:hunter2;x@db/app",
        ] {
            let found = mentions(url);
            assert!(!found.is_empty(), "{url}");
            assert!(found.iter().all(|m| !m.host.contains("hunter2") && !m.host.contains("ter2")), "{url}: {found:?}");
        }
    }

    fn cluster(text: &str) -> Cluster {
        let mut inventory = Inventory::default();
        load_bytes(&mut inventory, Arc::from("t.yaml"), text.as_bytes(), false);
        Cluster::from_inventory(inventory)
    }

    #[test]
    fn resolves_with_the_pod_search_list() {
        let c = cluster(concat!(
            "kind: Service\nmetadata: {name: redis, namespace: blog}\nspec: {selector: {app: redis}, ports: [{port: 6379}]}\n---\n",
            "kind: Service\nmetadata: {name: redis, namespace: shop}\nspec: {selector: {app: redis}, ports: [{port: 6379}]}\n---\n",
            "kind: Service\nmetadata: {name: mysql, namespace: blog}\nspec: {clusterIP: None, selector: {app: mysql}, ports: [{port: 3306}]}\n",
        ));
        let at = |ns: &str, host: &str| {
            resolve(&Services::new(&c), ns, host, "cluster.local").map(|s| format!("{}/{}", s.namespace, s.name))
        };
        assert_eq!(at("blog", "redis").as_deref(), Some("blog/redis"));
        assert_eq!(at("shop", "redis").as_deref(), Some("shop/redis"), "a bare name is the referrer's namespace");
        assert_eq!(at("shop", "redis.blog").as_deref(), Some("blog/redis"));
        assert_eq!(at("shop", "redis.blog.svc").as_deref(), Some("blog/redis"));
        assert_eq!(at("shop", "redis.blog.svc.cluster.local.").as_deref(), Some("blog/redis"));
        assert_eq!(at("other", "redis"), None, "no Service redis in `other`");
        assert_eq!(at("blog", "mysql-0.mysql").as_deref(), Some("blog/mysql"), "a pod of a headless Service");
        assert_eq!(at("blog", "redis-0.redis"), None, "redis is not headless: no pod names");
        assert_eq!(at("blog", "redis.blog.svc.example.org"), None, "another cluster domain");
    }
}
