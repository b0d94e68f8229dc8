//! The OpenAPI 3.1 document served at `/openapi.json`, derived from the route
//! handlers' annotations and the request and response types. A test checks that it
//! lists exactly the routes the router serves, and that `docs/openapi.json` is it.

use serde_json::{json, Map, Value};
use utoipa::OpenApi;

use super::routes;

/// The API's description, its routes and the schemas they use.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "MPMS node API",
        description = "The HTTP API of an MPMS node: submit transactions, read blocks, credentials and governance, follow commits.\n\nKeys, ids and hashes are lowercase hex; heights, nonces, amounts and times (Unix milliseconds) are JSON numbers. Every error is `{\"error\": \"...\"}` with a 4xx status for bad input and 5xx for a fault of the node. Personal data is only ever sealed to its owner. A transaction is signed over its canonical bytes, specified byte by byte in ENCODING.md.",
        license(name = "Apache-2.0"),
    ),
    paths(
        routes::submit,
        routes::transaction,
        routes::status,
        routes::latest_block,
        routes::block,
        routes::account,
        routes::subject,
        routes::subject_credentials,
        routes::subject_audit,
        routes::issuances,
        routes::credential,
        routes::credential_proof,
        routes::credential_bundle,
        routes::credential_status_proof,
        routes::state_proof,
        routes::grant,
        routes::grant_set,
        routes::delegation,
        routes::request,
        routes::schemas,
        routes::schema,
        routes::certifier,
        routes::certifier_status_lists,
        routes::status_list,
        routes::organization,
        routes::authorities,
        routes::params,
        routes::proposals,
        routes::proposal,
        routes::evidence,
        routes::events,
        routes::live,
        routes::ready,
        routes::metrics,
        routes::openapi,
    ),
    components(schemas(mpms_api::BlockEvent, mpms_api::TxEvent, mpms_api::LaggedEvent)),
    tags(
        (name = "transactions", description = "Submit transactions and follow them"),
        (name = "blocks", description = "Final blocks, state proofs and the commit stream"),
        (name = "credentials", description = "Subjects, credentials, schemas and their proofs"),
        (name = "access", description = "Access requests and grants"),
        (name = "parties", description = "Accounts, organizations, certifiers and delegations"),
        (name = "governance", description = "Authorities, parameters, proposals and evidence"),
        (name = "node", description = "This node: status, health, metrics"),
    ),
)]
struct ApiDoc;

/// The links from an answer to the routes its values lead to (OpenAPI links: what a
/// client, or a stateful API tester, follows): (from path, method, status, link name,
/// to operation, [(parameter, expression)]).
type LinkSpec = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [(&'static str, &'static str)],
);

const LINKS: &[LinkSpec] = &[
    (
        "/v1/transactions",
        "post",
        "202",
        "GetTransaction",
        "transaction",
        &[("hash", "$response.body#/hash")],
    ),
    (
        "/v1/status",
        "get",
        "200",
        "GetLastBlock",
        "block",
        &[("height", "$response.body#/height")],
    ),
    (
        "/v1/blocks/latest",
        "get",
        "200",
        "GetBlock",
        "block",
        &[("height", "$response.body#/header/height")],
    ),
    (
        "/v1/blocks/latest",
        "get",
        "200",
        "GetStateProof",
        "state_proof",
        &[("height", "$response.body#/header/height")],
    ),
    (
        "/v1/transactions/{hash}",
        "get",
        "200",
        "GetAccount",
        "account",
        &[("id", "$response.body#/transaction/tx/sender")],
    ),
    (
        "/v1/authorities",
        "get",
        "200",
        "GetAccount",
        "account",
        &[("id", "$response.body#/authorities/0/operator")],
    ),
    (
        "/v1/schemas",
        "get",
        "200",
        "GetSchema",
        "schema",
        &[("id", "$response.body#/schemas/0/id")],
    ),
    (
        "/v1/schemas/{id}",
        "get",
        "200",
        "GetOwner",
        "account",
        &[("id", "$response.body#/owner")],
    ),
    (
        "/v1/proposals",
        "get",
        "200",
        "GetProposal",
        "proposal",
        &[("id", "$response.body#/proposals/0/id")],
    ),
    (
        "/v1/subjects/{id}",
        "get",
        "200",
        "GetCredentials",
        "subject_credentials",
        &[("id", "$request.path.id")],
    ),
    (
        "/v1/subjects/{id}",
        "get",
        "200",
        "GetAudit",
        "subject_audit",
        &[("id", "$request.path.id")],
    ),
    (
        "/v1/issuances",
        "get",
        "200",
        "GetIssuedCredential",
        "credential",
        &[("id", "$response.body#/issuances/0/credential")],
    ),
    (
        "/v1/subjects/{id}/credentials",
        "get",
        "200",
        "GetCredential",
        "credential",
        &[("id", "$response.body#/credentials/0/id")],
    ),
    (
        "/v1/credentials/{id}",
        "get",
        "200",
        "GetProof",
        "credential_proof",
        &[("id", "$request.path.id")],
    ),
    (
        "/v1/credentials/{id}",
        "get",
        "200",
        "GetBundle",
        "credential_bundle",
        &[("id", "$request.path.id")],
    ),
    (
        "/v1/credentials/{id}",
        "get",
        "200",
        "GetStatusProof",
        "credential_status_proof",
        &[("id", "$request.path.id")],
    ),
    (
        "/v1/credentials/{id}",
        "get",
        "200",
        "GetSubject",
        "subject",
        &[("id", "$response.body#/claim/subject")],
    ),
    (
        "/v1/credentials/{id}",
        "get",
        "200",
        "GetCertifier",
        "certifier",
        &[("id", "$response.body#/claim/certifier")],
    ),
    (
        "/v1/credentials/{id}",
        "get",
        "200",
        "GetIssuingTransaction",
        "transaction",
        &[("hash", "$response.body#/issued_tx")],
    ),
    (
        "/v1/grants/{id}",
        "get",
        "200",
        "GetCredential",
        "credential",
        &[("id", "$response.body#/credential")],
    ),
    (
        "/v1/grants/{id}",
        "get",
        "200",
        "GetGrantee",
        "organization",
        &[("id", "$response.body#/grantee")],
    ),
];

/// Adds [`LINKS`] to the document's answers.
fn add_links(doc: &mut Value) {
    for (path, method, status, name, target, parameters) in LINKS {
        let Some(response) = doc
            .pointer_mut(&format!(
                "/paths/{}/{method}/responses/{status}",
                path.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        let parameters: Map<String, Value> = parameters
            .iter()
            .map(|(p, e)| ((*p).to_string(), json!(e)))
            .collect();
        let links = response
            .entry("links")
            .or_insert_with(|| Value::Object(Map::new()));
        links[*name] = json!({ "operationId": target, "parameters": parameters });
    }
}

/// The OpenAPI document.
pub fn openapi_document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    add_links(&mut doc);
    erasable_values_may_be_null(&mut doc);
    doc
}

/// An erasable value is `null` once erased, or when served to a reader who is not a
/// party of it: the schema generator writes the generic's value as required to be
/// an object, so each `Erasable_*` schema's `value` is widened to object or null.
fn erasable_values_may_be_null(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for (name, schema) in schemas.iter_mut() {
        if !name.starts_with("Erasable_") {
            continue;
        }
        if let Some(value) = schema.pointer_mut("/properties/value") {
            if value.get("type") == Some(&Value::from("object")) {
                value["type"] = serde_json::json!(["object", "null"]);
            }
        }
    }
}

/// The document as it is checked into `docs/openapi.json`: pretty, with a final
/// newline.
pub fn openapi_text() -> String {
    let mut text = serde_json::to_string_pretty(&openapi_document()).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;

    /// The public routes the router serves, read from its source.
    fn served_routes() -> BTreeSet<String> {
        let source = include_str!("mod.rs");
        let public = &source
            [source.find("pub fn router(").unwrap()..source.find("pub fn admin_router(").unwrap()];
        public
            .split(".route(")
            .skip(1)
            .map(|rest| rest.trim_start().trim_start_matches('"'))
            .map(|rest| rest[..rest.find('"').unwrap()].to_string())
            .collect()
    }

    #[test]
    fn the_document_lists_exactly_the_routes_served() {
        let doc = super::openapi_document();
        let documented: BTreeSet<String> =
            doc["paths"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(documented, served_routes());
    }

    #[test]
    fn every_link_leads_to_an_operation_and_from_an_answer() {
        let doc = super::openapi_document();
        let mut operations = BTreeSet::new();
        let mut links = 0;
        for (_, item) in doc["paths"].as_object().unwrap() {
            for (_, operation) in item.as_object().unwrap() {
                operations.insert(operation["operationId"].as_str().unwrap().to_string());
            }
        }
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (_, operation) in item.as_object().unwrap() {
                for (_, response) in operation["responses"].as_object().unwrap() {
                    for (name, link) in response["links"].as_object().into_iter().flatten() {
                        let target = link["operationId"].as_str().unwrap();
                        assert!(operations.contains(target), "{path} {name}: no {target}");
                        links += 1;
                    }
                }
            }
        }
        assert_eq!(links, super::LINKS.len(), "a link was not attached");
    }

    #[test]
    fn every_operation_documents_its_answers_with_schemas() {
        let doc = super::openapi_document();
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                assert!(!responses.is_empty(), "{method} {path}: no responses");
                for (code, response) in responses {
                    let content = response["content"].as_object();
                    let Some(content) = content else {
                        panic!("{method} {path} {code}: no content");
                    };
                    for (kind, media) in content {
                        assert!(
                            media["schema"].is_object(),
                            "{method} {path} {code} {kind}: no schema"
                        );
                    }
                }
            }
        }
    }

    /// `docs/openapi.json` is this document. `MPMS_WRITE_OPENAPI=1 cargo test -p
    /// mpms-node openapi` rewrites it after a change to the API.
    #[test]
    fn the_checked_in_document_is_the_served_one() {
        let file = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
        let text = super::openapi_text();
        if std::env::var_os("MPMS_WRITE_OPENAPI").is_some() {
            std::fs::write(&file, &text).unwrap();
        }
        let checked_in = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(
            checked_in == text,
            "docs/openapi.json differs from the API's document: run MPMS_WRITE_OPENAPI=1 cargo test -p mpms-node openapi, and review the change"
        );
    }
}
