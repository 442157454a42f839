//! `hookline-enrich`: the enrich service alone, against real Kafka and Redis. The same as
//! `hookline run --services enrich`; takes the same flags and `HOOKLINE_*` variables.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hookline::cli::service_main(hookline::Service::Enrich).await
}
