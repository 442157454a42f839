//! `hookline-api`: the api service alone, against real Kafka and Redis. The same as
//! `hookline run --services api`; takes the same flags and `HOOKLINE_*` variables.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    hookline::cli::service_main(hookline::Service::Api).await
}
