//! `hookline-ingest`: the ingest service alone, against real Kafka and Redis. The same as
//! `hookline run --services ingest`; takes the same flags and `HOOKLINE_*` variables.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hookline::cli::service_main(hookline::Service::Ingest).await
}
