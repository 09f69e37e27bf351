//! `yujing validate`: check the configuration, every error at once.

use anyhow::Result;
use yujing_engine::Backend;
use yujing_engine::{Built, EngineConfig};

pub(crate) fn validate(config: &EngineConfig, built: &Built) -> Result<()> {
    let rules = built.normalizer.rules();
    let resources: Vec<&str> = rules.resource_codes().collect();
    println!("configuration is valid");
    match config.store.backend {
        Backend::Embedded => println!(
            "  log:                embedded, {}",
            config.store.data_dir.display()
        ),
        Backend::Kafka if config.store.kafka.partitions > 1 => println!(
            "  log:                Kafka {} (topics {}*, {} shards by town, writers {}-p<n>)",
            config.store.kafka.bootstrap_servers,
            config.store.kafka.topic_prefix,
            config.store.kafka.partitions,
            config.store.kafka.transactional_id
        ),
        Backend::Kafka => println!(
            "  log:                Kafka {} (topics {}*, writer {})",
            config.store.kafka.bootstrap_servers,
            config.store.kafka.topic_prefix,
            config.store.kafka.transactional_id
        ),
    }
    println!(
        "  party-key secret:   {}",
        if built.demo {
            "DEMO (public; sample data only)"
        } else {
            "set"
        }
    );
    println!(
        "  towns:              {}",
        built.normalizer.gazetteer().towns().len()
    );
    println!(
        "  communities:        {}",
        built.normalizer.gazetteer().communities().len()
    );
    println!("  exchange resources: {}", resources.join(", "));
    println!("  warning rules:      {}", built.correlate.rules.len());
    println!(
        "  server:             {} ({} token(s), {} webhook(s), {} upstream topic(s))",
        config.server.listen,
        config.server.tokens.len(),
        config.server.webhooks.len(),
        config.sources.len()
    );
    Ok(())
}
