//! The configuration file `ferry` reads its address and token from when
//! neither flags nor `FERRY_URL`/`FERRY_TOKEN` give them: found in its
//! default place or named, warned about when others may read it, and never
//! shown, even when it does not parse.

use ferry_tests::{Backend, TestApp};

use crate::{Run, ferry_with};

#[tokio::test]
async fn the_address_and_token_come_from_a_configuration_file() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    std::fs::create_dir(dir.path().join("ferry")).expect("a ferry directory");
    let path = dir.path().join("ferry").join("config.toml");
    std::fs::write(
        &path,
        format!(
            "url = \"{}\"\ntoken = \"{}\"\n",
            app.address, app.admin_token
        ),
    )
    .expect("write the configuration");
    let private = |mode| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
            .expect("chmod the configuration");
    };
    private(0o600);
    let home = dir.path().to_str().expect("a UTF-8 path");
    let file = path.to_str().expect("a UTF-8 path");
    let quiet = |run: &Run| {
        assert!(
            !run.stderr.contains(&app.admin_token) && !run.stdout.contains(&app.admin_token),
            "the token is shown: {} {}",
            run.stdout,
            run.stderr
        );
    };

    // No FERRY_URL, no FERRY_TOKEN: the default place's file says both.
    let run = ferry_with(&[("XDG_CONFIG_HOME", home)], &["tasks", "list"])
        .await
        .expect(0);
    assert!(run.stdout.contains(" tasks"), "{}", run.stdout);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
    // Named by --config and by FERRY_CONFIG.
    ferry_with(&[], &["--config", file, "tasks", "list"])
        .await
        .expect(0);
    ferry_with(&[("FERRY_CONFIG", file)], &["tasks", "list"])
        .await
        .expect(0);
    // Flags and variables win over the file.
    let run = ferry_with(
        &[("FERRY_CONFIG", file), ("FERRY_TOKEN", "fy_not-a-token")],
        &["tasks", "list"],
    )
    .await
    .expect(1);
    assert!(run.stderr.contains("401"), "{}", run.stderr);
    ferry_with(
        &[("FERRY_CONFIG", file)],
        &["--url", "http://127.0.0.1:9", "tasks", "list"],
    )
    .await
    .expect(5);

    // Readable by others while it holds a token: warned about, still used.
    private(0o644);
    let run = ferry_with(&[("XDG_CONFIG_HOME", home)], &["tasks", "list"])
        .await
        .expect(0);
    assert!(
        run.stderr.contains("warning") && run.stderr.contains("chmod 600"),
        "{}",
        run.stderr
    );
    quiet(&run);

    // A file named but missing, or not TOML: said, exit 2, token unshown.
    let run = ferry_with(
        &[],
        &["--config", "/nonexistent/ferry.toml", "tasks", "list"],
    )
    .await
    .expect(2);
    assert!(
        run.stderr.contains("/nonexistent/ferry.toml"),
        "{}",
        run.stderr
    );
    std::fs::write(&path, format!("token = {}\n", app.admin_token)).expect("rewrite");
    let run = ferry_with(&[("FERRY_CONFIG", file)], &["tasks", "list"])
        .await
        .expect(2);
    assert!(run.stderr.contains("line 1"), "{}", run.stderr);
    quiet(&run);
}
