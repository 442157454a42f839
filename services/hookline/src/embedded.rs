//! `hookline embedded`: the whole pipeline in one process, with librdkafka's mock cluster as
//! the broker and the in-memory store. Loopback receivers and plain http are allowed so a
//! receiver on the same laptop works out of the box.

use crate::{Pipeline, Service, Settings};
use anyhow::Context;
use hookline_kafka::embedded::EmbeddedKafka;
use hookline_kafka::{ConfigWriter, KafkaSettings};
use hookline_model::{IngestKeyRecord, IngestKind, Permission};
use hookline_security::Sealer;
use hookline_store::Store;
use tokio_util::sync::CancellationToken;

/// The workspace the embedded mode creates a key for.
pub const WORKSPACE: &str = "demo";

/// The embedded pipeline, its broker and the credentials created for it.
pub struct Embedded {
    pub pipeline: Pipeline,
    pub api_key: String,
    /// An unbound ingest credential granting every input kind (what the gateway would use).
    pub ingest_key: String,
    /// The in-process broker; the pipeline stops working when this is dropped.
    pub broker: EmbeddedKafka,
}

/// Starts everything and creates an API key for [`WORKSPACE`].
pub async fn start(mut settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Embedded> {
    let mut kafka = KafkaSettings::new("", "");
    let broker =
        EmbeddedKafka::start(&kafka.topics.specs(), kafka.partitions).context("starting the embedded broker")?;
    kafka.brokers = broker.bootstrap_servers();
    // Topics exist already; the mock cluster does not serve admin requests.
    kafka.create_topics = false;

    if settings.security.secret_key.is_none() {
        settings.security.secret_key = Some(Sealer::random_key_hex());
    }
    // A laptop demo that accepts loopback webhook URLs must not listen on every interface.
    for addr in [
        &mut settings.api.http_addr,
        &mut settings.ingest.http_addr,
        &mut settings.admin.addr,
    ] {
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
    }
    settings.security.allow_http_urls = true;
    for cidr in ["127.0.0.0/8", "::1/128"] {
        settings.security.allow_cidrs.push(cidr.parse().expect("static CIDR"));
    }

    // The keys are written before the services start, so their config replay includes them.
    let (key, rec) = hookline_api::auth::new_key(WORKSPACE, vec![Permission::WebhooksRead, Permission::WebhooksWrite]);
    let writer = ConfigWriter::new(kafka.producer()?, kafka.topics.config());
    writer.put_api_key(&rec).await?;
    let (ingest_key, ingest_rec) =
        IngestKeyRecord::generate(Some("embedded gateway".into()), IngestKind::ALL.to_vec(), None, None);
    writer.put_ingest_key(&ingest_rec).await?;

    let pipeline = crate::start(&Service::ALL, &kafka, Store::memory(), &settings, shutdown).await?;
    Ok(Embedded {
        pipeline,
        api_key: key,
        ingest_key,
        broker,
    })
}

/// `hookline embedded`: starts, prints where everything is, runs until a signal.
pub async fn run(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<()> {
    let Embedded {
        pipeline,
        api_key: key,
        ingest_key,
        broker,
    } = self::start(settings, shutdown).await?;
    let api = pipeline.api_addr.expect("api runs");
    let ingest = pipeline.ingest_addr.expect("ingest runs");
    println!(
        "\nHookline is running EMBEDDED: in-process broker and in-memory store.\n\
         NOT DURABLE: configuration, queued events and logs are lost when this process exits.\n\
         Loopback and plain-http webhook URLs are allowed in this mode.\n\n\
         Portal:   http://{api}/portal/   (sign in with the API key below)\n\
         API:      http://{api}   (PUT /api/v1/user/webhooks, ...)\n\
         Ingest:   http://{ingest}   (POST /v1/messages, POST /v1/dlr)\n\
         Metrics:  http://{}/metrics\n\
         API key:  {key}   (workspace `{WORKSPACE}`, webhooks.read + webhooks.write)\n\
         Ingest credential: {ingest_key}   (Authorization: Bearer …; every input kind, any workspace)\n",
        pipeline.admin_addr
    );
    let result = pipeline.wait().await;
    drop(broker);
    result
}
