//! A changefeed managed by a changeset (`/api/v1/changesets`): created as
//! TiEM's create body says, its rules changed, and deleted once the next
//! document of the name leaves it out with `allowDelete`; each step an
//! ordinary changefeed operation task.

use std::time::Duration;

use ferry_tests::{eventually, kafka::TestKafka};
use serde_json::{Value, json};

use crate::helpers::Rig;

async fn applied(rig: &Rig, doc: &Value) -> Value {
    let accepted = rig
        .app
        .post("/api/v1/changesets?mode=apply", doc)
        .await
        .expect(202);
    let id = accepted["id"].as_str().unwrap().to_owned();
    eventually(
        "the changeset to be applied",
        Duration::from_secs(120),
        || async {
            let cs = rig
                .app
                .get(&format!("/api/v1/changesets/{id}"))
                .await
                .expect(200);
            match cs["status"].as_str() {
                Some("applied") => Ok(cs),
                Some("failed" | "stale") => panic!("the changeset did not apply: {cs}"),
                _ => Err(cs),
            }
        },
    )
    .await
}

fn feed_id(list: &Value, name: &str) -> Option<String> {
    list["data"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == name)
        .and_then(|f| f["id"].as_str().map(str::to_owned))
}

#[tokio::test]
async fn a_changeset_creates_updates_and_deletes_a_changefeed() {
    let rig = Rig::with_worker().await;
    // A changeset belongs to a Kafka cluster, whatever it manages.
    let kafka = TestKafka::start().await;
    let cluster: i64 = rig
        .app
        .post("/api/v1/clusters", &kafka.registration("kafka"))
        .await
        .expect(201)["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let db = format!("`{}`", rig.db);
    rig.both_exec(&format!("CREATE DATABASE {db}")).await;
    rig.both_exec(&format!("CREATE TABLE {db}.kept (id INT PRIMARY KEY)"))
        .await;
    let downstream = rig.downstream_object();
    let feed = |rules: Vec<String>| {
        json!({ "name": "cs-feed", "clusterId": rig.cluster_id, "downstreamType": "mysql",
            "downstream": downstream.clone(), "rules": rules })
    };
    let everything = vec![format!("{}.*", rig.db)];
    let doc =
        json!({ "cluster": cluster, "name": "feeds", "changefeeds": [feed(everything.clone())] });

    // Created through a changefeed.create task, and replicating.
    let cs = applied(&rig, &doc).await;
    assert_eq!(cs["plan"]["changes"][0]["action"], "create", "{cs}");
    assert_eq!(cs["steps"][0]["kind"], "changefeed.create");
    let list = rig.app.get("/api/v1/changefeeds/").await.expect(200);
    let id = feed_id(&list, "cs-feed").expect("the changefeed exists");
    rig.wait_status(&id, "Normal").await;
    rig.up(&format!("INSERT INTO {db}.kept VALUES (1)")).await;
    rig.sync().await;
    rig.assert_equal("kept", "id").await;
    let again = rig
        .app
        .post("/api/v1/changesets?mode=plan", &doc)
        .await
        .expect(201);
    assert_eq!(
        again["plan"]["changes"][0]["action"], "unchanged",
        "{again}"
    );

    // Its rules changed through a changefeed.update task.
    let narrower = vec![format!("{}.*", rig.db), format!("!{}.dropped", rig.db)];
    let update =
        json!({ "cluster": cluster, "name": "feeds", "changefeeds": [feed(narrower.clone())] });
    let cs = applied(&rig, &update).await;
    assert_eq!(
        cs["plan"]["changes"][0]["fields"],
        json!([{ "field": "rules", "old": everything.join(", "), "new": narrower.join(", ") }])
    );
    assert_eq!(cs["steps"][0]["kind"], "changefeed.update");
    let detail = rig.wait_status(&id, "Normal").await;
    assert_eq!(detail["rules"], json!(narrower), "{detail}");

    // An upstream cannot be changed by a changeset.
    let mut moved = feed(narrower.clone());
    moved["clusterId"] = json!(cluster.to_string());
    let refused = rig
        .app
        .post(
            "/api/v1/changesets?mode=plan",
            &json!({ "cluster": cluster, "name": "feeds", "changefeeds": [moved] }),
        )
        .await
        .expect(201);
    assert_eq!(refused["status"], "refused", "{refused}");

    // Left out with allowDelete: deleted through a changefeed.delete task.
    let gone =
        json!({ "cluster": cluster, "name": "feeds", "allowDelete": true, "changefeeds": [] });
    let cs = applied(&rig, &gone).await;
    assert_eq!(cs["plan"]["changes"][0]["action"], "delete", "{cs}");
    assert_eq!(cs["steps"][0]["kind"], "changefeed.delete");
    let list = rig.app.get("/api/v1/changefeeds/").await.expect(200);
    assert_eq!(feed_id(&list, "cs-feed"), None, "{list}");
}
