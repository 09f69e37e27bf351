//! `yujing validate`: check the configuration, every error at once, and say what it configures.

use anyhow::Result;
use yujing_engine::{Backend, Built, EngineConfig};
use yujing_server::ServerConfig;

pub(crate) fn validate(config: &EngineConfig, built: &Built, server: &ServerConfig) -> Result<()> {
    let (store, kafka) = (&config.store, &config.store.kafka);
    let log = match store.backend {
        Backend::Embedded => format!("embedded, {}", store.data_dir.display()),
        Backend::Kafka if store.sharded() => format!(
            "Kafka {} (topics {}*, {} shards by town, writers {}-p<n>)",
            kafka.bootstrap_servers, kafka.topic_prefix, kafka.partitions, kafka.transactional_id
        ),
        Backend::Kafka => format!(
            "Kafka {} (topics {}*, writer {})",
            kafka.bootstrap_servers, kafka.topic_prefix, kafka.transactional_id
        ),
    };
    let secret = if built.demo {
        "DEMO (public; sample data only)"
    } else {
        "set"
    };
    let gazetteer = built.normalizer.gazetteer();
    let resources: Vec<&str> = built.normalizer.rules().resource_codes().collect();
    println!("configuration is valid");
    println!("  log:                {log}");
    println!("  party-key secret:   {secret}");
    println!("  towns:              {}", gazetteer.towns().len());
    println!("  communities:        {}", gazetteer.communities().len());
    println!("  exchange resources: {}", resources.join(", "));
    println!("  warning rules:      {}", built.correlate.rules.len());
    println!(
        "  server:             {} ({} token(s), {} webhook(s), {} upstream topic(s))",
        server.listen,
        server.tokens.len(),
        server.webhooks.len(),
        config.sources.len()
    );
    Ok(())
}
