//! REST Proxy v2's content negotiation: an answer on a v2 path is sent as
//! the first of `application/vnd.kafka.v2+json`, `application/vnd.kafka+json`
//! and `application/json` that the `Accept` header weighs highest (`*/*` and
//! `application/*` allow the first), and a request whose `Accept` allows
//! none of them is refused with 406 before anything else runs. Handlers and
//! `dialect.rs` always write v2's own type; only this middleware changes it.

use std::sync::LazyLock;

use poem::{
    Endpoint, FromRequest, IntoResponse, Request, Response,
    http::{HeaderValue, StatusCode, header},
    web::Accept,
};

use crate::{
    dialect::{Dialect, KAFKA_V2_JSON as V2_JSON},
    middleware::request_id::RequestId,
};

/// What v2 can answer in, most specific first.
const OFFERED: [&str; 3] = [V2_JSON, "application/vnd.kafka+json", "application/json"];

/// [`OFFERED`], parsed once.
static OFFERED_TYPES: LazyLock<[(&str, mime::Mime); 3]> = LazyLock::new(|| {
    OFFERED.map(|offered| (offered, offered.parse().expect("offered types parse")))
});

/// Whether the path is a consumer's `records` route, which answers in its
/// instance's format and negotiates for itself
/// (`confluent::v2::consumers::records`).
fn is_records(path: &str) -> bool {
    path.starts_with("/consumers/") && path.ends_with("/records")
}

pub async fn negotiate<E: Endpoint>(next: E, req: Request) -> poem::Result<Response> {
    let path = req.uri().path();
    if Dialect::of_path(path) != Dialect::ConfluentV2 || is_records(path) {
        return next.call(req).await.map(IntoResponse::into_response);
    }
    let accepted = match req.headers().get(header::ACCEPT) {
        None => Some(V2_JSON),
        Some(_) => {
            let Accept(ranges) = Accept::from_request_without_body(&req).await?;
            choose(&ranges)
        }
    };
    let Some(chosen) = accepted else {
        let request_id = req
            .extensions()
            .get::<RequestId>()
            .map(|r| r.0.clone())
            .unwrap_or_default();
        return Ok(Dialect::ConfluentV2.error(
            StatusCode::NOT_ACCEPTABLE,
            &format!(
                "the Accept header allows none of the types REST Proxy v2 answers in: {}",
                OFFERED.join(", ")
            ),
            &request_id,
        ));
    };
    let mut resp = match next.call(req).await {
        Ok(resp) => resp.into_response(),
        Err(err) => err.into_response(),
    };
    let ours = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with(V2_JSON));
    if ours && chosen != V2_JSON {
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(chosen));
    }
    Ok(resp)
}

/// Whether a range of an `Accept` header allows anything: a weight of zero
/// refuses what it names.
pub fn weighs(range: &mime::Mime) -> bool {
    range
        .get_param("q")
        .is_none_or(|q| q.as_str().parse::<f32>().map_or(true, |q| q > 0.0))
}

/// The offered type the highest weighted range allows; `None` when no
/// range with a weight above zero allows any.
fn choose(ranges: &[mime::Mime]) -> Option<&'static str> {
    ranges
        .iter()
        .filter(|range| weighs(range))
        .find_map(|range| {
            OFFERED_TYPES.iter().find_map(|(name, offered)| {
                let allowed = (range.type_() == mime::STAR || range.type_() == offered.type_())
                    && (range.subtype() == mime::STAR
                        || (range.subtype() == offered.subtype()
                            && range.suffix() == offered.suffix()));
                allowed.then_some(*name)
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(accept: &str) -> Option<&'static str> {
        let ranges: Vec<mime::Mime> = accept
            .split(',')
            .filter_map(|r| r.trim().parse().ok())
            .collect();
        choose(&ranges)
    }

    #[test]
    fn the_highest_weighted_offer_wins() {
        assert_eq!(pick("application/vnd.kafka.v2+json"), Some(V2_JSON));
        assert_eq!(
            pick("application/vnd.kafka.v2+json, application/vnd.kafka+json, application/json"),
            Some(V2_JSON)
        );
        assert_eq!(pick("application/json"), Some("application/json"));
        assert_eq!(
            pick("application/vnd.kafka+json"),
            Some("application/vnd.kafka+json")
        );
        assert_eq!(pick("*/*"), Some(V2_JSON));
        assert_eq!(pick("application/*"), Some(V2_JSON));
        assert_eq!(pick("text/html"), None);
        assert_eq!(pick("application/json;q=0, text/html"), None);
    }
}
