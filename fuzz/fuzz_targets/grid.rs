//! The grid decoder and the normalizer on arbitrary bytes.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    yujing_fuzz::exercise(yujing_model::FeedId::Grid, data);
});
