//! What a record says about the policy that a stricter one would apply to it, worked out once
//! at ingest (`records.kept_override`, `records.forwarding_override`,
//! `records.from_subdomain`): classifying ten million records then reads three booleans
//! instead of joining the override reasons and comparing domain names (queries/classes.sql
//! has the rules that use them).

use crate::model::OverrideReason;

/// The receiver's policy overrides of one record, as the readiness rules read them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OverrideFacts {
    /// An override the receiver keeps applying under any published policy: `forwarded`,
    /// `trusted_forwarder`, `mailing_list` (RFC 9990 section 3.1.6, RFC 7489 appendix C) and
    /// `local_policy`. The others (`sampled_out`: pct; `policy_test_mode`: t=y; `other`)
    /// vanish under p=reject with no pct and t=n.
    pub kept: bool,
    /// The receiver says the message was forwarded: a forwarder or list override, or Google's
    /// ARC override (`local_policy` whose comment says `arc=pass`: the message's ARC chain
    /// vouched for an earlier pass).
    pub forwarding: bool,
}

impl OverrideFacts {
    pub fn of(reasons: &[OverrideReason]) -> OverrideFacts {
        reasons
            .iter()
            .fold(OverrideFacts::default(), |facts, reason| {
                let kind = reason.kind.as_deref().unwrap_or("").trim();
                let is = |name: &str| kind.eq_ignore_ascii_case(name);
                let forwarder = is("forwarded") || is("mailing_list") || is("trusted_forwarder");
                let local = is("local_policy");
                let arc_pass = local && reason.comment.as_deref().is_some_and(says_arc_pass);
                OverrideFacts {
                    kept: facts.kept || forwarder || local,
                    forwarding: facts.forwarding || forwarder || arc_pass,
                }
            })
    }
}

fn says_arc_pass(comment: &str) -> bool {
    comment.to_ascii_lowercase().contains("arc=pass")
}

/// Whether mail from `header_from` is covered by the policy domain's `sp` (or `np`) rather
/// than its `p`: the From domain is a subdomain of the policy domain (RFC 9989 section
/// 4.10.1). Mail without a From domain or from the policy domain itself is covered by `p`;
/// mail from outside it by another domain's policy (classes.sql).
pub fn from_subdomain(header_from: Option<&str>, policy_domain: &str) -> bool {
    let policy_domain = policy_domain.trim().trim_end_matches('.');
    let Some(from) = header_from.map(|f| f.trim().trim_end_matches('.')) else {
        return false;
    };
    !policy_domain.is_empty()
        && from.len() > policy_domain.len() + 1
        && from.as_bytes()[from.len() - policy_domain.len() - 1] == b'.'
        && from.as_bytes()[from.len() - policy_domain.len()..]
            .eq_ignore_ascii_case(policy_domain.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(kind: &str, comment: Option<&str>) -> OverrideReason {
        OverrideReason {
            kind: Some(kind.into()),
            comment: comment.map(Into::into),
        }
    }

    #[test]
    fn forwarders_and_lists_are_kept_and_say_forwarding() {
        for kind in ["forwarded", "Mailing_List", "trusted_forwarder"] {
            let facts = OverrideFacts::of(&[reason(kind, None)]);
            assert_eq!(
                facts,
                OverrideFacts {
                    kept: true,
                    forwarding: true
                },
                "{kind}"
            );
        }
    }

    #[test]
    fn local_policy_is_kept_and_forwarding_only_with_an_arc_pass() {
        let plain = OverrideFacts::of(&[reason("local_policy", Some("spam"))]);
        assert!(plain.kept && !plain.forwarding);
        let arc = OverrideFacts::of(&[reason(
            "local_policy",
            Some("arc=pass as.1.google.com=pass"),
        )]);
        assert!(arc.kept && arc.forwarding);
    }

    #[test]
    fn overrides_that_vanish_under_the_target_are_not_kept() {
        for kind in ["sampled_out", "policy_test_mode", "other"] {
            assert_eq!(
                OverrideFacts::of(&[reason(kind, Some("arc=pass"))]),
                OverrideFacts::default(),
                "{kind}"
            );
        }
        let mixed = OverrideFacts::of(&[reason("sampled_out", None), reason("forwarded", None)]);
        assert!(mixed.kept && mixed.forwarding);
    }

    #[test]
    fn only_strict_subdomains_of_the_policy_domain_are_subdomain_mail() {
        assert!(from_subdomain(Some("news.example.com"), "example.com"));
        assert!(from_subdomain(Some("a.b.Example.COM."), "example.com"));
        assert!(!from_subdomain(Some("example.com"), "example.com"));
        assert!(!from_subdomain(Some("badexample.com"), "example.com"));
        assert!(!from_subdomain(Some("example.org"), "example.com"));
        assert!(!from_subdomain(None, "example.com"));
        assert!(!from_subdomain(Some(".example.com"), "example.com"));
        assert!(!from_subdomain(Some("x.example.com"), ""));
        // Names from strangers: no byte of them is a char boundary to slice at.
        assert!(!from_subdomain(Some("é.exämple.com"), "mple.com"));
        assert!(from_subdomain(Some("é.exämple.com"), "exämple.com"));
    }
}
