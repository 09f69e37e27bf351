//! What the feeds' integration tests share: the normalizer of the built-in configuration.

use yujing_feeds::{FeedsConfig, Gazetteer, Normalizer, PartyHasher};

/// The normalizer of `config/yujing.toml`'s `[feeds]`, keying party hashes with `secret`.
pub fn normalizer(secret: &[u8]) -> Normalizer {
    let table: toml::Table = toml::from_str(include_str!("../../../../config/yujing.toml"))
        .expect("the built-in configuration parses");
    let feeds: FeedsConfig = table["feeds"]
        .clone()
        .try_into()
        .expect("its [feeds] section is valid");
    let hasher = PartyHasher::new(secret).expect("a long enough secret");
    Normalizer::new(
        Gazetteer::rugao(),
        hasher,
        feeds.build().expect("the feed rules build"),
    )
}
