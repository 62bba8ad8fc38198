//! What a run tells (issue #22, parts 1 and 2), end to end on the bed: a message per domain that
//! needs a person on the stack's topic — readable text and JSON for machines, not sent again the
//! next run — and an event per certificate renewed or failed on the default bus, each read back
//! from a queue as a subscriber would (the bed's SNS, EventBridge and SQS behave as AWS does
//! there: tests/bed/test_fidelity_notify.py).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use cert_rotator::handler::InvocationError;
use cert_rotator::report::{Outcome, Report};
use common::world::{Invocation, World};
use serde_json::{json, Value};

/// A queue that `service` (sns, events) may deliver into from `source`; its URL and ARN.
async fn queue(w: &World, service: &str, source: &str) -> (String, String) {
    let sqs = aws_sdk_sqs::Client::new(&w.sdk);
    let name = common::unique("q");
    let url = sqs
        .create_queue()
        .queue_name(&name)
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    let arn = sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow",
        "Principal": {"Service": format!("{service}.amazonaws.com")}, "Action": "sqs:SendMessage",
        "Resource": arn, "Condition": {"ArnEquals": {"aws:SourceArn": source}}}]});
    sqs.set_queue_attributes()
        .queue_url(&url)
        .attributes(
            aws_sdk_sqs::types::QueueAttributeName::Policy,
            policy.to_string(),
        )
        .send()
        .await
        .unwrap();
    (url, arn)
}

/// Every message in the queue now, as JSON.
async fn drain(w: &World, url: &str) -> Vec<Value> {
    let sqs = aws_sdk_sqs::Client::new(&w.sdk);
    let mut out = Vec::new();
    loop {
        let got = sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        let messages = got.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            sqs.delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

/// The stack's topic (its AlarmTopic, which the function may publish to) with a queue
/// subscribed, and a rule on the default bus for cert-rotator's events with a queue as target.
async fn listening(w: &World) -> (String, String, String) {
    let sns = aws_sdk_sns::Client::new(&w.sdk);
    let topic = sns
        .create_topic()
        .name(common::unique("alarms"))
        .send()
        .await
        .unwrap()
        .topic_arn
        .unwrap();
    w.set_stack_parameter("AlarmTopic", &topic).await;
    let (messages, messages_arn) = queue(w, "sns", &topic).await;
    sns.subscribe()
        .topic_arn(&topic)
        .protocol("sqs")
        .endpoint(messages_arn)
        .send()
        .await
        .unwrap();
    let events = aws_sdk_eventbridge::Client::new(&w.sdk);
    let rule = common::unique("rule");
    let rule_arn = events
        .put_rule()
        .name(&rule)
        .event_pattern(r#"{"source": ["cert-rotator"]}"#)
        .send()
        .await
        .unwrap()
        .rule_arn
        .unwrap();
    let (events_queue, events_arn) = queue(w, "events", &rule_arn).await;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id("q")
        .arn(events_arn)
        .build()
        .unwrap();
    events
        .put_targets()
        .rule(&rule)
        .targets(target)
        .send()
        .await
        .unwrap();
    (topic, messages, events_queue)
}

fn report_of(result: Result<Report, InvocationError>) -> Report {
    match result {
        Ok(report) => report,
        Err(InvocationError::Domains { report, .. }) => *report,
        Err(e) => panic!("the run failed: {e}"),
    }
}

#[tokio::test]
async fn a_failed_domain_is_told_once_and_renewals_and_failures_become_events() {
    let w = World::new("notify").await;
    let (topic, messages, events) = listening(&w).await;
    let good = w.name("cdn");
    w.due("cdn-old", &[&good], &[&good]).await;
    let bad = w.name("img");
    w.due("img-old", &[&bad], &[&bad]).await;
    // A profile the CA does not offer fails `bad` before any order.
    let event = json!({"domains": [{"names": [good]}, {"names": [bad], "profile": "longlived"}]});
    let settings = [("CERT_ROTATOR_TOPIC_ARN", topic.as_str())];
    let first = report_of(w.run_with(Invocation::overrides(&settings), &event).await);
    assert_eq!(first.domains[0].outcome, Outcome::Renewed);
    assert_eq!(first.domains[1].outcome, Outcome::Failed);
    assert_eq!(
        (first.notifications.messages, first.notifications.events),
        (1, 2),
        "{:?}",
        first.notifications
    );

    let told = drain(&w, &messages).await;
    assert_eq!(told.len(), 1, "{told:#?}");
    assert_eq!(told[0]["Subject"], format!("cert-rotator: {bad} failed"));
    let machine: Value = serde_json::from_str(told[0]["Message"].as_str().unwrap()).unwrap();
    assert_eq!(machine["outcome"], "failed");
    assert_eq!(machine["names"][0], bad.as_str());
    assert!(
        machine["error"].as_str().unwrap().contains("longlived"),
        "{machine}"
    );

    let put = drain(&w, &events).await;
    let kinds: Vec<&str> = put
        .iter()
        .map(|e| e["detail-type"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"Certificate Renewed") && kinds.contains(&"Certificate Renewal Failed"),
        "{kinds:?}"
    );
    let renewed = put
        .iter()
        .find(|e| e["detail-type"] == "Certificate Renewed")
        .unwrap();
    assert_eq!(renewed["source"], "cert-rotator");
    assert_eq!(renewed["detail"]["names"][0], good.as_str());
    assert!(
        renewed["detail"]["certificate"]["name"].is_string(),
        "{renewed}"
    );

    // The next run fails the same way: the message is held (sent again only when it changes or a
    // day on); the failure is still an event.
    let second = report_of(w.run_with(Invocation::overrides(&settings), &event).await);
    assert_eq!(second.notifications.held, 1, "{:?}", second.notifications);
    assert!(drain(&w, &messages).await.is_empty(), "not sent again");
    let put = drain(&w, &events).await;
    assert_eq!(put.len(), 1, "the failure, not the kept certificate");
    // What it says changes: told again at once.
    let other =
        json!({"domains": [{"names": [good]}, {"names": [bad], "profile": "verylonglived"}]});
    let third = report_of(w.run_with(Invocation::overrides(&settings), &other).await);
    assert_eq!(third.notifications.messages, 1, "{:?}", third.notifications);
    assert_eq!(drain(&w, &messages).await.len(), 1);
}
