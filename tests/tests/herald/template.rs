//! `template.yaml` declares every function crate and every route the local server serves.

use std::path::Path;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn template() -> String {
    std::fs::read_to_string(root().join("template.yaml")).expect("template.yaml")
}

#[test]
fn every_route_of_the_local_server_has_its_http_api_route() {
    let template = template();
    for (method, path) in herald_http::ROUTES {
        let declared = format!("Method: {method}, Path: \"{path}\"");
        assert!(
            template.contains(&declared),
            "template.yaml lacks the route {method} {path}"
        );
    }
    let declared = template.matches("Type: HttpApi, Properties:").count();
    assert_eq!(
        declared,
        herald_http::ROUTES.len(),
        "the template declares routes the server does not serve"
    );
}

#[test]
fn every_function_crate_has_its_template_resource() {
    let template = template();
    let mut functions = 0;
    for entry in std::fs::read_dir(root().join("functions")).expect("functions/") {
        let dir = entry.expect("entry").path();
        let manifest = std::fs::read_to_string(dir.join("Cargo.toml")).unwrap_or_default();
        // A Lambda crate is one with a binary; libraries (core, http, lambda) and the local
        // server (`herald`) are not deployed.
        let Some(bin) = manifest.split("[[bin]]").nth(1) else {
            continue;
        };
        let name = bin
            .lines()
            .find_map(|l| l.trim().strip_prefix("name = "))
            .map(|n| n.trim_matches('"').to_string())
            .expect("a [[bin]] name");
        if name == "herald" {
            continue;
        }
        functions += 1;
        assert!(
            template.contains(&format!("Binary: {name}")),
            "template.yaml has no function for `{name}`"
        );
        assert!(template.contains("BuildMethod: rust-cargolambda"));
    }
    assert_eq!(functions, 4, "trigger, cancel, step-resume and api");
}
