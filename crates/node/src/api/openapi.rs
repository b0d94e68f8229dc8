//! The OpenAPI 3.0 document served at `/openapi.json`. A test checks that it lists
//! exactly the routes the router serves.

use serde_json::{json, Value};

/// Every public route: (method, path, summary, path parameter description).
pub(crate) const ROUTES: &[(&str, &str, &str)] = &[
    ("post", "/v1/transactions", "Submit a signed transaction (canonical bytes as application/octet-stream, or JSON). 202 when admitted to the mempool; 422 with the reason when the ledger's rules refuse it."),
    ("get", "/v1/transactions/{hash}", "A transaction's status: pending, committed (height, index) or 404."),
    ("get", "/v1/status", "Chain and node status: height, round, peers, mempool, syncing."),
    ("get", "/v1/blocks/latest", "The last finalized block with its commit certificate."),
    ("get", "/v1/blocks/{height}", "A finalized block with its commit certificate."),
    ("get", "/v1/accounts/{id}", "An account: committed nonce, next nonce counting pending transactions, balances."),
    ("get", "/v1/subjects/{id}", "A registered subject (its encryption key)."),
    ("get", "/v1/subjects/{id}/credentials", "The credentials issued to a subject."),
    ("get", "/v1/subjects/{id}/audit", "The audit trail of a subject's credentials: every access request, grant, grant revocation, expiry and recorded inspection, with heights and times, oldest first."),
    ("get", "/v1/credentials/{id}", "A credential record (claim, certifier signature, status)."),
    ("get", "/v1/credentials/{id}/proof", "Inclusion proof of a credential: the issuing transaction, its Merkle proof, the block header and commit certificate, and the certified authority-set changes up to that block."),
    ("get", "/v1/credentials/{id}/bundle", "The credential's proof bundle: issuing transaction, Merkle proof, certified header, the certified chain of authority-set changes from genesis, and its status proven against a later certified header. Checked offline by `mpmsd verify`."),
    ("get", "/v1/credentials/{id}/status-proof", "The credential's status as of the last block: the credential and certifier records proven against its certified header, with the authority-set changes from genesis."),
    ("get", "/v1/state/proof", "A proof of one state key's value, or of its absence, after a block, with that block's header and certificate."),
    ("get", "/v1/grants/{id}", "An access grant."),
    ("get", "/v1/grant-sets/{id}", "A set grant (a subject's grant of several credentials in one transaction): its selection, expiry, revocation, and each entry's credential and grant id."),
    ("get", "/v1/certifiers/{id}/delegations/{practitioner}", "A certifier's delegation of claim signing to a practitioner: its terms (role, schemas, validity, revocation) by the height from which each applies."),
    ("get", "/v1/requests/{id}", "An access request."),
    ("get", "/v1/schemas", "Every registered credential schema."),
    ("get", "/v1/schemas/{id}", "A credential schema."),
    ("get", "/v1/certifiers/{id}", "A certifier and its accreditation."),
    ("get", "/v1/organizations/{id}", "A member organization."),
    ("get", "/v1/authorities", "The active authority set and every authority's record."),
    ("get", "/v1/params", "The chain's parameters in force (stakes, limits, governance periods, consensus timing)."),
    ("get", "/v1/proposals", "Governance proposals, newest first."),
    ("get", "/v1/proposals/{id}", "A governance proposal and its votes."),
    ("get", "/v1/evidence", "Offences proven by evidence and punished."),
    ("get", "/v1/events", "Server-Sent Events: `block` per committed block, `tx` per committed transaction."),
    ("get", "/health/live", "Liveness: 200 while the process serves."),
    ("get", "/health/ready", "Readiness: 200 when synced, peered and (for a validator) holding the consensus key the chain names; 503 with reasons otherwise."),
    ("get", "/metrics", "Prometheus metrics."),
    ("get", "/openapi.json", "This document."),
];

/// Query parameters: (path, name, required, type, description).
const QUERY: &[(&str, &str, bool, &str, &str)] = &[
    (
        "/v1/state/proof",
        "key",
        true,
        "string",
        "The state key, hex (at most 1024 bytes)",
    ),
    (
        "/v1/state/proof",
        "height",
        false,
        "integer",
        "The block height (default: the last block); older heights than the node keeps are 404",
    ),
];

/// The OpenAPI document.
pub fn openapi_document() -> Value {
    let error = json!({
        "description": "Bad input",
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } }
    });
    let mut paths = serde_json::Map::new();
    for (method, path, summary) in ROUTES {
        let query = QUERY.iter().filter(|(p, ..)| p == path).map(
            |(_, name, required, kind, description)| {
                json!({
                    "name": name,
                    "in": "query",
                    "required": required,
                    "schema": { "type": kind },
                    "description": description,
                })
            },
        );
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| {
                json!({
                    "name": name,
                    "in": "path",
                    "required": true,
                    "schema": { "type": "string" },
                    "description": match name {
                        "height" => "Block height (decimal)",
                        "hash" => "Transaction hash (64 hex digits)",
                        _ => "Identifier: an account's public key or a 32-byte id, in hex; a schema id as text; a proposal number",
                    }
                })
            })
            .chain(query)
            .collect();
        let mut responses = serde_json::Map::new();
        responses.insert(
            if *method == "post" { "202" } else { "200" }.into(),
            json!({ "description": "OK", "content": { "application/json": {} } }),
        );
        responses.insert("400".into(), error.clone());
        if path.contains('{') || QUERY.iter().any(|(p, ..)| p == path) {
            responses.insert("404".into(), error.clone());
        }
        let mut operation = json!({
            "summary": summary,
            "parameters": params,
            "responses": responses,
        });
        if *method == "post" {
            operation["requestBody"] = json!({
                "required": true,
                "content": {
                    "application/octet-stream": { "schema": { "type": "string", "format": "binary" } },
                    "application/json": { "schema": { "$ref": "#/components/schemas/SignedTransaction" } }
                }
            });
            operation["responses"]["413"] = json!({ "description": "Body too large" });
            operation["responses"]["422"] = error.clone();
        }
        let entry = paths.entry(path.to_string()).or_insert_with(|| json!({}));
        entry[*method] = operation;
    }
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "MPMS node API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "The HTTP API of an MPMS node: submit transactions, read blocks, credentials and governance, follow commits. Keys and hashes are hex; personal data is only ever sealed to its owner."
        },
        "paths": paths,
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": { "error": { "type": "string" } }
                },
                "SignedTransaction": {
                    "type": "object",
                    "required": ["tx", "signature"],
                    "properties": {
                        "tx": {
                            "type": "object",
                            "required": ["chain_id", "sender", "nonce", "payload"],
                            "properties": {
                                "chain_id": { "type": "string" },
                                "sender": { "type": "string", "description": "Public key, hex" },
                                "nonce": { "type": "integer", "minimum": 0 },
                                "payload": { "type": "object", "description": "One of the ledger's payloads, externally tagged (e.g. {\"RegisterSubject\": {...}})" }
                            }
                        },
                        "signature": { "type": "string", "description": "Ed25519 signature, hex" }
                    }
                }
            }
        }
    })
}
