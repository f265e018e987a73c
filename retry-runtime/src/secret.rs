//! Client property values that must not be shown: passwords, keys, tokens.

/// What a property's name contains when its value is a secret (`sasl.password`,
/// `ssl.key.pem`, `ssl.keystore.password`, `sasl.oauthbearer.client.secret`,
/// `sasl.jaas.config`, `sasl.oauthbearer.config`, ...).
const SECRET_NAME_PARTS: [&str; 6] = [
    "password",
    "secret",
    "key",
    "token",
    "sasl.jaas",
    "oauthbearer.config",
];

/// What stands for a secret value in errors and logs.
pub(crate) const MASK: &str = "***";

/// `value` of client property `property` as an error or a log may show it: [`MASK`] when the
/// property's name says it holds a secret.
pub(crate) fn shown_value<'a>(property: &str, value: &'a str) -> &'a str {
    if is_secret(property) {
        MASK
    } else {
        value
    }
}

/// `text` (a client's error about `property`'s `value`) with the value masked when it is a
/// secret: librdkafka's errors may quote the value they refused.
pub(crate) fn masked_in(property: &str, value: &str, text: &str) -> String {
    if is_secret(property) && !value.is_empty() {
        text.replace(value, MASK)
    } else {
        text.to_owned()
    }
}

fn is_secret(property: &str) -> bool {
    let property = property.to_ascii_lowercase();
    SECRET_NAME_PARTS.iter().any(|part| property.contains(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_masked_and_the_rest_shown() {
        for property in [
            "sasl.password",
            "ssl.key.password",
            "ssl.key.pem",
            "ssl.keystore.password",
            "ssl_key.pem",
            "sasl.oauthbearer.client.secret",
            "sasl.oauthbearer.config",
            "sasl.jaas.config",
            "sasl.oauthbearer.token.endpoint.url",
            "SASL.PASSWORD",
        ] {
            assert_eq!(shown_value(property, "hunter2"), MASK, "{property}");
        }
        for property in [
            "security.protocol",
            "sasl.mechanism",
            "sasl.username",
            "acks",
        ] {
            assert_eq!(shown_value(property, "SASL_SSL"), "SASL_SSL", "{property}");
        }
    }

    #[test]
    fn a_secret_quoted_in_an_error_is_masked() {
        let error = r#"Invalid value "hunter2" for configuration property "sasl.password""#;
        assert_eq!(
            masked_in("sasl.password", "hunter2", error),
            r#"Invalid value "***" for configuration property "sasl.password""#
        );
        assert_eq!(masked_in("acks", "7", "acks 7 is wrong"), "acks 7 is wrong");
        assert_eq!(masked_in("sasl.password", "", "empty"), "empty");
    }
}
