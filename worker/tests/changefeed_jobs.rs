//! Changefeed operation jobs run directly against a real SQLite metadata
//! store, in the states that an interrupted attempt leaves behind (issue #16,
//! item 3): what a black-box test could only reach by killing a worker at
//! an exact moment.

use chrono::Utc;
use ferry_entity::{
    ChangefeedState, ClusterId, Desired, DownstreamType, TaskKind,
    changefeed::{self, Entity as Changefeeds},
    payload::{ChangefeedOptions, ChangefeedPatch},
    task,
};
use ferry_service::{
    settings::Settings,
    store::Store,
    tasks::{NewTask, Requester},
};
use ferry_worker::jobs::{self, JobContext, Resources, topic_create::TopicCreator};
use sea_orm::{ActiveModelTrait, EntityTrait, IntoActiveModel};
use serde_json::json;

async fn store(dir: &tempfile::TempDir) -> (Store, Settings) {
    let mut settings = Settings::load(None).expect("ferry's defaults load");
    settings.database_url = format!("sqlite://{}/ferry.db?mode=rwc", dir.path().display());
    settings.secret_key = None;
    let store = ferry_service::open_store(&settings).await.expect("a store");
    (store, settings)
}

fn a_changefeed(state: ChangefeedState, desired: Desired) -> changefeed::Model {
    let now = Utc::now();
    changefeed::Model {
        id: uuid::Uuid::now_v7().to_string(),
        name: "feed".into(),
        cluster_id: ClusterId(1),
        downstream_type: DownstreamType::Mysql,
        downstream: json!({ "ip": "127.0.0.1", "port": 3306, "username": "root" }),
        downstream_secret: None,
        rules: json!(["db.*"]),
        options: json!(ChangefeedOptions {
            worker_count: 1,
            max_txn_row: 10,
            force: false
        }),
        start_ts: 0,
        state,
        desired,
        error_message: None,
        error_at: None,
        error_since: None,
        checkpoint: None,
        checkpoint_ts: 0,
        fetched_ts: 0,
        upstream_ts: 0,
        server_id: 100_001,
        owner: None,
        lease_until: None,
        resume_after: None,
        project_id: None,
        created_at: now,
        updated_at: now,
    }
}

/// An update whose first attempt paused the changefeed and died before
/// resuming it: the next attempt resumes it, rather than report success
/// with the changefeed left paused.
#[tokio::test]
async fn an_interrupted_update_still_resumes_the_changefeed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (store, settings) = store(&dir).await;
    let who = Requester {
        created_by: "test".into(),
        request_id: None,
        project_id: None,
    };
    let patch = ChangefeedPatch {
        name: Some("renamed".into()),
        ..Default::default()
    };
    let mut feed = a_changefeed(ChangefeedState::Stopped, Desired::Stopped);
    let update = NewTask::new(TaskKind::ChangefeedUpdate, &patch, &who)
        .about(feed.id.clone())
        .into_model();
    // What the interrupted attempt left: paused, with the intent to resume.
    feed.resume_after = Some(update.id.clone());
    feed.clone()
        .into_active_model()
        .insert(&store.db)
        .await
        .expect("stored");
    let update = task::ActiveModel::from(update)
        .insert(&store.db)
        .await
        .expect("stored");

    let resources = Resources {
        topics: TopicCreator::new(&settings.worker),
        kafka: Default::default(),
    };
    let ctx = JobContext {
        store: &store,
        task: &update,
        resources: &resources,
    };
    jobs::execute(ctx).await.expect("the update succeeds");

    let after = Changefeeds::find_by_id(feed.id.clone())
        .one(&store.db)
        .await
        .expect("the store answers")
        .expect("the changefeed is there");
    assert_eq!(after.name, "renamed");
    assert_eq!(after.desired, Desired::Running, "{after:?}");
    assert_eq!(after.state, ChangefeedState::Normal, "{after:?}");
    assert_eq!(after.resume_after, None, "{after:?}");
}

/// An update of a changefeed that a user paused leaves it paused.
#[tokio::test]
async fn an_update_of_a_paused_changefeed_leaves_it_paused() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (store, settings) = store(&dir).await;
    let who = Requester {
        created_by: "test".into(),
        request_id: None,
        project_id: None,
    };
    let patch = ChangefeedPatch {
        name: Some("renamed".into()),
        ..Default::default()
    };
    let feed = a_changefeed(ChangefeedState::Stopped, Desired::Stopped);
    feed.clone()
        .into_active_model()
        .insert(&store.db)
        .await
        .expect("stored");
    let update = NewTask::new(TaskKind::ChangefeedUpdate, &patch, &who)
        .about(feed.id.clone())
        .into_model();
    let update = task::ActiveModel::from(update)
        .insert(&store.db)
        .await
        .expect("stored");
    let resources = Resources {
        topics: TopicCreator::new(&settings.worker),
        kafka: Default::default(),
    };
    let ctx = JobContext {
        store: &store,
        task: &update,
        resources: &resources,
    };
    jobs::execute(ctx).await.expect("the update succeeds");
    let after = Changefeeds::find_by_id(feed.id)
        .one(&store.db)
        .await
        .expect("the store answers")
        .expect("the changefeed is there");
    assert_eq!(after.desired, Desired::Stopped, "{after:?}");
}

/// A creation that gave up leaves the changefeed `Failed` with the reason,
/// not `Initial` for ever.
#[tokio::test]
async fn a_creation_that_gave_up_fails_the_changefeed() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let (store, _) = store(&dir).await;
    let who = Requester {
        created_by: "test".into(),
        request_id: None,
        project_id: None,
    };
    let feed = a_changefeed(ChangefeedState::Initial, Desired::Running);
    feed.clone()
        .into_active_model()
        .insert(&store.db)
        .await
        .expect("stored");
    let create = NewTask::new(
        TaskKind::ChangefeedCreate,
        &ferry_entity::payload::ChangefeedOperation::default(),
        &who,
    )
    .about(feed.id.clone())
    .into_model();
    jobs::changefeed::failed(
        &store.db,
        &create,
        "gave up after 5 attempts: upstream down",
    )
    .await
    .expect("recorded");
    let after = Changefeeds::find_by_id(feed.id)
        .one(&store.db)
        .await
        .expect("the store answers")
        .expect("the changefeed is there");
    assert_eq!(after.state, ChangefeedState::Failed, "{after:?}");
    assert_eq!(after.desired, Desired::Stopped);
    assert!(
        after
            .error_message
            .as_deref()
            .is_some_and(|m| m.contains("upstream down")),
        "{after:?}"
    );
}
