//! Every topic name Hookline reads or writes, in one place.

use clap::Args;

/// Topic names. `HOOKLINE_TOPIC_PREFIX` is prepended to every one of them (inputs included),
/// which lets several environments, or parallel tests, share one cluster.
#[derive(Debug, Clone, Args)]
pub struct Topics {
    #[arg(
        long = "topic-prefix",
        id = "topic_prefix",
        env = "HOOKLINE_TOPIC_PREFIX",
        default_value = ""
    )]
    pub prefix: String,
    /// Input: the gateway's accepted-message stream (JSON `AcceptedMessage`).
    #[arg(
        long = "topic-accepted",
        id = "topic_accepted",
        env = "HOOKLINE_TOPIC_ACCEPTED",
        default_value = "sms.accepted"
    )]
    pub accepted: String,
    /// Input: carrier delivery reports (JSON or SMPP 3.4 receipt text).
    #[arg(
        long = "topic-carrier-dlr",
        id = "topic_carrier_dlr",
        env = "HOOKLINE_TOPIC_CARRIER_DLR",
        default_value = "carrier.dlr"
    )]
    pub carrier_dlr: String,
    /// Input: link clicks from the shortener (JSON `ClickInput` without the ingest fields).
    #[arg(
        long = "topic-link-clicks",
        id = "topic_link_clicks",
        env = "HOOKLINE_TOPIC_LINK_CLICKS",
        default_value = "link.clicks"
    )]
    pub link_clicks: String,
    /// Input: clicks that bot detection revoked after the fact (JSON `RevokedClickInput`),
    /// keyed by workspace; batched per workspace to SMSEdge `revoke_click_url` subscriptions.
    #[arg(
        long = "topic-clicks-revoked",
        id = "topic_clicks_revoked",
        env = "HOOKLINE_TOPIC_CLICKS_REVOKED",
        default_value = "link.clicks.revoked"
    )]
    pub clicks_revoked: String,
    /// Validated clicks (ingest → enrich).
    #[arg(
        long = "topic-clicks",
        id = "topic_clicks",
        env = "HOOKLINE_TOPIC_CLICKS",
        default_value = "hookline.events.clicks"
    )]
    pub clicks: String,
    /// Validated conversions from `/track` and `/v1/actions` (ingest → enrich).
    #[arg(
        long = "topic-conversions",
        id = "topic_conversions",
        env = "HOOKLINE_TOPIC_CONVERSIONS",
        default_value = "hookline.events.conversions"
    )]
    pub conversions: String,
    /// Input: SMS received on the workspaces' numbers (JSON, see README).
    #[arg(
        long = "topic-sms-inbound",
        id = "topic_sms_inbound",
        env = "HOOKLINE_TOPIC_SMS_INBOUND",
        default_value = "sms.inbound"
    )]
    pub sms_inbound: String,
    /// Validated inbound SMS (ingest → enrich).
    #[arg(
        long = "topic-inbound",
        id = "topic_inbound",
        env = "HOOKLINE_TOPIC_INBOUND",
        default_value = "hookline.events.inbound"
    )]
    pub inbound: String,
    /// Validated accepted messages (ingest → enrich).
    #[arg(
        long = "topic-messages",
        id = "topic_messages",
        env = "HOOKLINE_TOPIC_MESSAGES",
        default_value = "hookline.events.messages"
    )]
    pub messages: String,
    /// Validated, normalised DLRs (ingest → enrich).
    #[arg(
        long = "topic-dlr",
        id = "topic_dlr",
        env = "HOOKLINE_TOPIC_DLR",
        default_value = "hookline.events.dlr"
    )]
    pub dlr: String,
    /// DLRs waiting for their message's metadata (enrich → enrich, delayed).
    #[arg(
        long = "topic-dlr-wait",
        id = "topic_dlr_wait",
        env = "HOOKLINE_TOPIC_DLR_WAIT",
        default_value = "hookline.events.dlr.wait"
    )]
    pub dlr_wait: String,
    /// One record per event × subscription, keyed by endpoint (enrich, api → delivery).
    #[arg(
        long = "topic-dispatch",
        id = "topic_dispatch",
        env = "HOOKLINE_TOPIC_DISPATCH",
        default_value = "hookline.webhooks.dispatch"
    )]
    pub dispatch: String,
    /// Retry tiers: `<name>.<secs>s`, one topic per delay tier (delivery → delivery).
    #[arg(
        long = "topic-retry",
        id = "topic_retry",
        env = "HOOKLINE_TOPIC_RETRY",
        default_value = "hookline.webhooks.retry"
    )]
    pub retry: String,
    /// The delay tiers, in seconds. A retry due in `d` seconds goes to the largest tier not
    /// above `d` (the first tier if all are above), with its exact due time in a header. Every
    /// tier topic has the dispatch topic's partition count, so one consumer owns an endpoint
    /// across all of them.
    // The default, and the built-in retry policies whose every delay is one of its tiers,
    // are in `hookline_model::retry`.
    #[arg(
        long = "retry-tiers-secs",
        id = "retry_tiers_secs",
        env = "HOOKLINE_RETRY_TIERS_SECS",
        value_delimiter = ',',
        default_value = hookline_model::retry::DEFAULT_TIERS
    )]
    pub retry_tiers_secs: Vec<u64>,
    /// Events whose retry policy is exhausted (delivery → api, operators).
    #[arg(
        long = "topic-dead",
        id = "topic_dead",
        env = "HOOKLINE_TOPIC_DEAD",
        default_value = "hookline.webhooks.dead"
    )]
    pub dead: String,
    /// The attempt log (delivery → api).
    #[arg(
        long = "topic-attempts",
        id = "topic_attempts",
        env = "HOOKLINE_TOPIC_ATTEMPTS",
        default_value = "hookline.webhooks.attempts"
    )]
    pub attempts: String,
    /// Compacted configuration: workspaces and API keys (api → everyone).
    #[arg(
        long = "topic-config",
        id = "topic_config",
        env = "HOOKLINE_TOPIC_CONFIG",
        default_value = "hookline.config"
    )]
    pub config: String,
    /// Records that could not be processed, with the reason in headers.
    #[arg(
        long = "topic-quarantine",
        id = "topic_quarantine",
        env = "HOOKLINE_TOPIC_QUARANTINE",
        default_value = "hookline.quarantine"
    )]
    pub quarantine: String,
}

/// How a topic should be created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicSpec {
    pub name: String,
    /// `None`: the deployment's `topic_partitions`.
    pub partitions: Option<i32>,
    pub compacted: bool,
}

impl Default for Topics {
    fn default() -> Self {
        use clap::Parser;
        #[derive(Parser)]
        struct Only {
            #[command(flatten)]
            topics: Topics,
        }
        Only::parse_from(["hookline"]).topics
    }
}

impl Topics {
    /// The defaults with a prefix (tests give each run its own).
    pub fn with_prefix(prefix: &str) -> Self {
        Self {
            prefix: prefix.to_string(),
            ..Self::default()
        }
    }

    fn full(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }

    pub fn accepted(&self) -> String {
        self.full(&self.accepted)
    }
    pub fn carrier_dlr(&self) -> String {
        self.full(&self.carrier_dlr)
    }
    pub fn sms_inbound(&self) -> String {
        self.full(&self.sms_inbound)
    }
    pub fn inbound(&self) -> String {
        self.full(&self.inbound)
    }
    pub fn link_clicks(&self) -> String {
        self.full(&self.link_clicks)
    }

    pub fn clicks_revoked(&self) -> String {
        self.full(&self.clicks_revoked)
    }
    pub fn clicks(&self) -> String {
        self.full(&self.clicks)
    }
    pub fn conversions(&self) -> String {
        self.full(&self.conversions)
    }
    pub fn messages(&self) -> String {
        self.full(&self.messages)
    }
    pub fn dlr(&self) -> String {
        self.full(&self.dlr)
    }
    pub fn dlr_wait(&self) -> String {
        self.full(&self.dlr_wait)
    }
    pub fn dispatch(&self) -> String {
        self.full(&self.dispatch)
    }
    /// The retry tier topic for `tier_secs`.
    pub fn retry_tier(&self, tier_secs: u64) -> String {
        self.full(&format!("{}.{tier_secs}s", self.retry))
    }
    /// Every retry tier topic, shortest delay first.
    pub fn retry_tiers(&self) -> Vec<(u64, String)> {
        let mut tiers = self.retry_tiers_secs.clone();
        tiers.sort_unstable();
        tiers.dedup();
        tiers.into_iter().map(|t| (t, self.retry_tier(t))).collect()
    }
    pub fn dead(&self) -> String {
        self.full(&self.dead)
    }
    pub fn attempts(&self) -> String {
        self.full(&self.attempts)
    }
    pub fn config(&self) -> String {
        self.full(&self.config)
    }
    pub fn quarantine(&self) -> String {
        self.full(&self.quarantine)
    }

    /// Every topic, with how to create it. The config topic has one partition so that its
    /// replay order is the write order.
    pub fn specs(&self) -> Vec<TopicSpec> {
        let plain = |name: String| TopicSpec {
            name,
            partitions: None,
            compacted: false,
        };
        let mut specs = vec![
            plain(self.accepted()),
            plain(self.carrier_dlr()),
            plain(self.sms_inbound()),
            plain(self.inbound()),
            plain(self.link_clicks()),
            plain(self.clicks_revoked()),
            plain(self.clicks()),
            plain(self.conversions()),
            plain(self.messages()),
            plain(self.dlr()),
            plain(self.dlr_wait()),
            plain(self.dispatch()),
            plain(self.attempts()),
            plain(self.quarantine()),
            plain(self.dead()),
            TopicSpec {
                name: self.config(),
                partitions: Some(1),
                compacted: true,
            },
        ];
        specs.extend(self.retry_tiers().into_iter().map(|(_, name)| plain(name)));
        specs
    }
}
