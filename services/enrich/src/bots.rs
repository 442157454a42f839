//! Bot and link-preview detection: such clicks never fire a webhook.
//!
//! A click is automated when the shortener flagged it (`bot: true`), when it has no user
//! agent, or when the user agent contains one of [`MARKERS`] (case-insensitive): crawlers,
//! messaging apps' link unfurlers, and HTTP libraries that no human clicks with.

/// Lower-case user-agent fragments of automated clients.
pub const MARKERS: &[&str] = &[
    "bot",
    "crawler",
    "spider",
    "slurp",
    "facebookexternalhit",
    "facebot",
    "slack",
    "discord",
    "telegram",
    "whatsapp",
    "skypeuripreview",
    "embedly",
    "preview",
    "pinterest",
    "bitlybot",
    "headlesschrome",
    "phantomjs",
    "curl/",
    "wget/",
    "python-requests",
    "python-urllib",
    "go-http-client",
    "okhttp",
    "java/",
    "libwww",
    "httpclient",
    "axios/",
    "node-fetch",
];

pub fn is_bot(flagged: bool, user_agent: &str) -> bool {
    if flagged || user_agent.trim().is_empty() {
        return true;
    }
    let ua = user_agent.to_ascii_lowercase();
    MARKERS.iter().any(|m| ua.contains(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn humans_and_bots() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1";
        assert!(!is_bot(false, iphone));
        assert!(is_bot(true, iphone), "upstream flag wins");
        for ua in [
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "WhatsApp/2.23.20.0",
            "TelegramBot (like TwitterBot)",
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "curl/8.4.0",
            "",
        ] {
            assert!(is_bot(false, ua), "{ua}");
        }
    }
}
