use super::*;

fn strict() -> UrlPolicy {
    UrlPolicy::new(false, vec![])
}

#[test]
fn refuses_every_spelling_of_internal_addresses() {
    let p = UrlPolicy::new(true, vec![]);
    for raw in [
        "http://127.0.0.1/x",
        "http://2130706433/",
        "http://0x7f000001/",
        "http://0x7f.1/",
        "http://0177.0.0.1/",
        "http://127.1/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:7f00:1]/",
        "http://[::127.0.0.1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        "http://169.254.169.254/latest/meta-data",
        "http://[fd00:ec2::254]/",
        "http://10.1.2.3/",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.100.100.200/",
        "http://0.0.0.0/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://224.0.0.1/",
    ] {
        assert!(
            matches!(p.check_syntax(raw), Err(UrlError::ForbiddenAddress(_))),
            "{raw} was accepted: {:?}",
            p.check_syntax(raw)
        );
    }
}

/// Every IPv6 prefix that embeds an IPv4 address, in hex and dotted spellings: refused when
/// the embedded address is forbidden, accepted when it is public.
#[test]
fn ipv6_translation_ranges_are_judged_by_the_embedded_ipv4() {
    let p = UrlPolicy::new(true, vec![]);
    let forbidden = [
        // IPv4-mapped ::ffff:0:0/96
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:a9fe:a9fe]/",
        // IPv4-compatible ::/96
        "http://[::10.0.0.1]/",
        "http://[::a00:1]/",
        // IPv4-translated (SIIT) ::ffff:0:0:0/96
        "http://[::ffff:0:127.0.0.1]/",
        "http://[::ffff:0:7f00:1]/",
        "http://[0:0:0:0:ffff:0:a9fe:a9fe]/",
        "http://[::ffff:0:a00:1]/",
        // NAT64 well-known prefix 64:ff9b::/96
        "http://[64:ff9b::127.0.0.1]/",
        "http://[64:ff9b::7f00:1]/",
        "http://[64:ff9b::a9fe:a9fe]/",
        // Local-use NAT64 64:ff9b:1::/48, whatever it embeds and where
        "http://[64:ff9b:1::a9fe:a9fe]/",
        "http://[64:ff9b:1::127.0.0.1]/",
        "http://[64:ff9b:1:7f00:0:100::]/",
        "http://[64:ff9b:1::808:808]/",
        "http://[64:ff9b:1:ffff:ffff:ffff:ffff:ffff]/",
        // 6to4 2002::/16, IPv4 in bits 16..48
        "http://[2002:7f00:1::]/",
        "http://[2002:7f00:1::1]/",
        "http://[2002:a9fe:a9fe:1:2:3:4:5]/",
        "http://[2002:a00:1::]/",
        "http://[2002:c0a8:101::1]/",
        // Teredo 2001::/32: client 127.0.0.1 (XOR 0xffffffff), public server
        "http://[2001:0:4136:e378:8000:63bf:80ff:fffe]/",
        // Teredo: client 192.0.2.45 (TEST-NET-1), the RFC 4380 example
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        // Teredo: public client 8.8.8.8, server 10.0.0.1
        "http://[2001:0:a00:1:8000:63bf:f7f7:f7f7]/",
        // Teredo: client 169.254.169.254
        "http://[2001::5601:5601]/",
    ];
    for raw in forbidden {
        assert!(
            matches!(p.check_syntax(raw), Err(UrlError::ForbiddenAddress(_))),
            "{raw} was accepted: {:?}",
            p.check_syntax(raw)
        );
    }
    let public = [
        "http://[::ffff:8.8.8.8]/",
        "http://[::ffff:0:8.8.8.8]/",
        "http://[64:ff9b::8.8.8.8]/",
        "http://[64:ff9b::808:808]/",
        "http://[2002:808:808::1]/",
        "http://[2001:0:4136:e378:8000:63bf:f7f7:f7f7]/",
        // Not in any translation range.
        "http://[2606:4700::1111]/",
    ];
    for raw in public {
        assert!(p.check_syntax(raw).is_ok(), "{raw} refused: {:?}", p.check_syntax(raw));
    }
    // The connect-time check is the same function.
    assert!(!p.ip_allowed("2002:7f00:1::".parse().unwrap()));
    assert!(!p.ip_allowed("::ffff:0:7f00:1".parse().unwrap()));
    assert!(p.ip_allowed("2002:808:808::".parse().unwrap()));
    // The embedded address is judged against the allowlist too, so an allowed IPv4 range
    // is reachable through its translations; the local-use NAT64 range stays closed.
    let lo = UrlPolicy::new(true, vec!["127.0.0.0/8".parse().unwrap()]);
    assert!(lo.ip_allowed("2002:7f00:1::".parse().unwrap()));
    assert!(lo.ip_allowed("::ffff:0:7f00:1".parse().unwrap()));
    assert!(
        !lo.ip_allowed("2001:0:a00:1:8000:63bf:80ff:fffe".parse().unwrap()),
        "server 10.0.0.1"
    );
    assert!(!lo.ip_allowed("64:ff9b:1::7f00:1".parse().unwrap()));
}

/// Credentials in a URL would be sent as Basic auth and shown in the configuration.
#[test]
fn credentials_are_refused() {
    for raw in [
        "https://user:pass@example.com/hook",
        "https://user@example.com/hook",
        "https://:pass@example.com/hook",
        "https://us%40er:p%3Ass@example.com/",
        "https://user:pass@8.8.8.8/",
        "HTTPS://User:Pass@Example.com/",
    ] {
        assert_eq!(strict().check_syntax(raw), Err(UrlError::Credentials), "{raw}");
    }
    // An `@` in the path or query is not userinfo.
    assert!(strict().check_syntax("https://example.com/a@b?to=x@y").is_ok());
}

/// The parser drops tab and newline silently; what is stored and shown must be what is
/// requested, so control characters are refused, literal or percent-encoded.
#[test]
fn control_characters_are_refused() {
    for raw in [
        "https://example.com/a\r\nX-Injected: 1",
        "https://example.com/a\nb",
        "https://exa\tmple.com/",
        "https://example.com/\0",
        "https://example.com/\x7f",
        "https://example.com/\u{85}",
        "\nhttps://example.com/",
        "https://example.com/\n",
        "https://example.com/a%0d%0aX-Injected:%201",
        "https://example.com/a%0A",
        "https://example.com/?q=%09",
        "https://example.com/%00",
        "https://example.com/%7f",
        "https://example.com/%C2%85",
        "https://example.com/%1B[31m",
        "https://example.com/%%0a",
    ] {
        assert_eq!(strict().check_syntax(raw), Err(UrlError::ControlCharacter), "{raw:?}");
    }
    for raw in [
        "https://example.com/%20ok%2F%25",
        "https://example.com/100%",
        "https://example.com/%zz",
        "https://example.com/%0",
        "https://example.com/caf%C3%A9",
    ] {
        assert!(
            strict().check_syntax(raw).is_ok(),
            "{raw}: {:?}",
            strict().check_syntax(raw)
        );
    }
}

/// What is returned (and stored) is the parser's serialisation, the URL that is requested.
#[test]
fn accepted_urls_come_back_normalised() {
    for (raw, normalised) in [
        ("HTTPS://Example.COM:443/a/./b/../c?q=1", "https://example.com/a/c?q=1"),
        ("https://example.com", "https://example.com/"),
        ("https://example.com:8443/x y", "https://example.com:8443/x%20y"),
        ("https://@example.com/", "https://example.com/"),
        ("https://bücher.example/", "https://xn--bcher-kva.example/"),
        ("https://example.com\\hook", "https://example.com/hook"),
        ("https://[2606:4700:0::1111]/", "https://[2606:4700::1111]/"),
    ] {
        assert_eq!(
            strict().check_syntax(raw).map(String::from).as_deref(),
            Ok(normalised),
            "{raw}"
        );
    }
}

#[test]
fn schemes_and_https() {
    assert_eq!(
        strict().check_syntax("ftp://example.com/"),
        Err(UrlError::Scheme("ftp".into()))
    );
    assert_eq!(
        strict().check_syntax("file:///etc/passwd"),
        Err(UrlError::Scheme("file".into()))
    );
    assert_eq!(
        strict().check_syntax("http://example.com/"),
        Err(UrlError::HttpsRequired)
    );
    assert_eq!(strict().check_syntax("not a url"), Err(UrlError::Parse));
    assert!(strict().check_syntax("https://example.com/hook").is_ok());
    assert!(strict().check_syntax("https://8.8.8.8/hook").is_ok());
    assert!(strict().check_syntax("https://[2606:4700::1111]/").is_ok());
    let long = format!("https://example.com/{}", "a".repeat(MAX_URL_LEN));
    assert_eq!(strict().check_syntax(&long), Err(UrlError::TooLong));
}

#[test]
fn allowlist_opens_a_range_only() {
    let p = UrlPolicy::new(true, vec!["127.0.0.0/8".parse().unwrap()]);
    assert!(p.check_syntax("http://127.0.0.1:8080/").is_ok());
    assert!(p.check_syntax("http://[::ffff:127.0.0.1]/").is_ok());
    assert!(p.check_syntax("http://10.0.0.1/").is_err());
    assert!(p.check_syntax("http://[::1]/").is_err());
}

#[tokio::test]
async fn resolves_names() {
    assert!(matches!(
        UrlPolicy::new(true, vec![]).check("http://localhost:9/").await,
        Err(UrlError::ForbiddenAddress(_))
    ));
    // Unresolvable names are accepted; connect time decides.
    assert!(strict().check("https://hookline-test.invalid/").await.is_ok());
}

/// IPv6 ranges IANA marks not globally reachable (issue 28): documentation `3fff::/20`, SRv6
/// SIDs `5f00::/16`, benchmarking `2001:2::/48`; their neighbours stay public.
#[test]
fn ipv6_ranges_not_globally_reachable_are_refused() {
    let p = strict();
    for raw in [
        "https://[3fff::1]/",
        "https://[3fff:fff:ffff::1]/",
        "https://[5f00::1]/",
        "https://[5f00:ffff::1]/",
        "https://[2001:2::1]/",
        "https://[2001:2:0:ffff::1]/",
    ] {
        assert!(
            matches!(p.check_syntax(raw), Err(UrlError::ForbiddenAddress(_))),
            "{raw} was accepted"
        );
    }
    for raw in [
        "https://[3fff:1000::1]/",
        "https://[3ffe::1]/",
        "https://[5f01::1]/",
        "https://[2001:2:1::1]/",
        "https://[2a00:1450:4001::200e]/",
    ] {
        assert!(p.check_syntax(raw).is_ok(), "{raw} was refused");
    }
}

/// With config-time resolution off (air-gapped deployments), a name is not resolved when it
/// is configured (`localhost` is accepted) but the connect-time check still refuses the
/// address it resolves to; literals are judged as before.
#[tokio::test]
async fn config_time_resolution_can_be_turned_off() {
    let p = UrlPolicy::new(true, vec![]).resolving_at_config(false);
    assert!(p.check("http://localhost:9/").await.is_ok());
    assert!(!p.ip_allowed("127.0.0.1".parse().unwrap()));
    assert!(matches!(
        p.check("http://127.0.0.1:9/").await,
        Err(UrlError::ForbiddenAddress(_))
    ));
}
