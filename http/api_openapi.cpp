// GET /api/v1/openapi.json: the OpenAPI 3 document of the API. Kept beside
// the routes (http/api_server.cpp); tests/http/api_e2etest.cpp checks each
// documented path and method against a running head.

#include "taskrt/http/api_state.hpp"

#include "taskrt/runtime/version.hpp"

namespace taskrt::http {

namespace {

const char* const document = R"json({
  "openapi": "3.0.3",
  "info": {
    "title": "taskrt HTTP API",
    "description": "The head's JSON API (docs/cli.md, HTTP API). Authenticate with Authorization: Bearer TOKEN (taskrt tokens add NAME --role viewer|operator) or the session cookie of a `taskrt dashboard` link. Viewers may GET; operators may also POST. Every error is {\"error\", \"detail\"}.",
    "version": "1"
  },
  "servers": [{"url": "/"}],
  "security": [{"bearer": []}, {"session": []}],
  "paths": {
    "/api/v1/tasks": {
      "get": {
        "summary": "List tasks (the filters of `taskrt tasks list`), newest first, paged by cursor",
        "parameters": [
          {"name": "state", "in": "query", "schema": {"type": "string"}, "description": "QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED, LOST; repeated or comma-separated"},
          {"name": "name", "in": "query", "schema": {"type": "string"}},
          {"name": "queue", "in": "query", "schema": {"type": "string"}},
          {"name": "node", "in": "query", "schema": {"type": "string"}},
          {"name": "lock", "in": "query", "schema": {"type": "string"}},
          {"name": "error_kind", "in": "query", "schema": {"type": "string"}},
          {"name": "since", "in": "query", "schema": {"type": "string"}, "description": "RFC 3339 time or an age like 1h (created at or after)"},
          {"name": "until", "in": "query", "schema": {"type": "string"}},
          {"name": "sort", "in": "query", "schema": {"type": "string", "default": "-id"}, "description": "id, created, updated, name, priority; prefix - to reverse"},
          {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 50}},
          {"name": "cursor", "in": "query", "schema": {"type": "string"}, "description": "next_cursor of the previous page (sort id or -id)"}
        ],
        "responses": {
          "200": {"description": "A page", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/TaskPage"}}}},
          "422": {"$ref": "#/components/responses/Error"}
        }
      },
      "post": {
        "summary": "Submit a task (as `taskrt submit`); answered once it is durably QUEUED",
        "parameters": [{"name": "Idempotency-Key", "in": "header", "schema": {"type": "string"}, "description": "as submit --key; or \"key\" in the body"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Submit"}}}},
        "responses": {
          "201": {"description": "Queued", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Id"}}}},
          "200": {"description": "The same key and body came before: the first task's id", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Id"}}}},
          "400": {"$ref": "#/components/responses/Error"},
          "409": {"description": "The key was used with a different body; `id` names the first task", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
          "422": {"$ref": "#/components/responses/Error"},
          "503": {"description": "The journal (Postgres) is down: try again after Retry-After seconds", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        }
      }
    },
    "/api/v1/tasks/{id}": {
      "get": {
        "summary": "One task as `taskrt tasks describe` shows it: attempts, retry decisions, checkpoints, events (with the origin of each action)",
        "parameters": [{"$ref": "#/components/parameters/id"}],
        "responses": {
          "200": {"description": "The task", "content": {"application/json": {"schema": {"type": "object"}}}},
          "404": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/tasks/{id}/cancel": {
      "post": {
        "summary": "Cancel: QUEUED at once, RUNNING cooperatively",
        "parameters": [{"$ref": "#/components/parameters/id"}],
        "responses": {
          "200": {"description": "The state after the call", "content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "integer"}, "state": {"type": "string"}, "cancel_requested": {"type": "boolean"}}}}}},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/tasks/{id}/retry": {
      "post": {
        "summary": "Manual retry of a FAILED, LOST or CANCELLED task (history kept)",
        "parameters": [{"$ref": "#/components/parameters/id"}],
        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Retry"}}}},
        "responses": {
          "200": {"description": "Re-queued", "content": {"application/json": {"schema": {"type": "object", "properties": {"id": {"type": "integer"}, "state": {"type": "string"}}}}}},
          "404": {"$ref": "#/components/responses/Error"},
          "409": {"$ref": "#/components/responses/Error"}
        }
      }
    },
    "/api/v1/tasks/cancel": {
      "post": {
        "summary": "Cancel many: by ids or by filter (QUEUED and RUNNING ones), with a dry run",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Bulk"}}}},
        "responses": {"200": {"description": "What happened to each", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkResult"}}}}, "400": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/api/v1/tasks/retry": {
      "post": {
        "summary": "Retry many: by ids or by filter (FAILED, LOST and CANCELLED ones), with a dry run; priority, queue, lock, run_at | in as for one",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Bulk"}}}},
        "responses": {"200": {"description": "What happened to each", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/BulkResult"}}}}, "400": {"$ref": "#/components/responses/Error"}}
      }
    },
    "/api/v1/status": {
      "get": {"summary": "The head (live) and the journal's counts", "responses": {"200": {"description": "Status", "content": {"application/json": {"schema": {"type": "object", "properties": {"head": {"type": "object"}, "tasks": {"type": "object"}, "throughput_per_s": {"type": "number"}, "queued_ready": {"type": "integer"}, "queued_scheduled": {"type": "integer"}, "oldest_queued_age_s": {"type": "number", "nullable": true}}}}}}}}
    },
    "/api/v1/nodes": {
      "get": {"summary": "Nodes and their slots (the head's live view over the journal's rows)", "responses": {"200": {"description": "Nodes", "content": {"application/json": {"schema": {"type": "object", "properties": {"nodes": {"type": "array", "items": {"type": "object"}}, "live": {"type": "boolean"}}}}}}}}
    },
    "/api/v1/queues": {
      "get": {"summary": "Per queue: depth (ready + scheduled), running, the oldest ready task, tasks finished per second over the last minute", "responses": {"200": {"description": "Queues", "content": {"application/json": {"schema": {"type": "object", "properties": {"queues": {"type": "array", "items": {"type": "object"}}, "rate_window_s": {"type": "number"}}}}}}}}
    },
    "/api/v1/summary": {
      "get": {
        "summary": "`taskrt summary`: counts by name and state, failures by error kind, lost attempts by cause",
        "parameters": [
          {"name": "since", "in": "query", "schema": {"type": "string"}},
          {"name": "name", "in": "query", "schema": {"type": "string"}},
          {"name": "queue", "in": "query", "schema": {"type": "string"}}
        ],
        "responses": {"200": {"description": "Summary", "content": {"application/json": {"schema": {"type": "object"}}}}}
      }
    },
    "/api/v1/events": {
      "get": {
        "summary": "Server-Sent Events of transitions as they commit, in journal order; resumes after Last-Event-ID (or ?after=) without loss while the journal keeps the events",
        "parameters": [
          {"name": "task_id", "in": "query", "schema": {"type": "integer"}},
          {"name": "state", "in": "query", "schema": {"type": "string"}, "description": "the state a transition goes to; comma-separated"},
          {"name": "name", "in": "query", "schema": {"type": "string"}},
          {"name": "notes", "in": "query", "schema": {"type": "boolean"}, "description": "also events without a state change (progress, checkpoint, retry_decision, ...)"},
          {"name": "after", "in": "query", "schema": {"type": "integer"}},
          {"name": "Last-Event-ID", "in": "header", "schema": {"type": "string"}}
        ],
        "responses": {"200": {"description": "event: transition, id: EVENT_ID, data: {id, task_id, name, at, attempt, kind, from, to, node, detail}", "content": {"text/event-stream": {"schema": {"type": "string"}}}}}
      }
    },
    "/api/v1/whoami": {
      "get": {"summary": "The caller's name and role", "responses": {"200": {"description": "Who", "content": {"application/json": {"schema": {"type": "object", "properties": {"name": {"type": "string"}, "role": {"type": "string", "enum": ["viewer", "operator"]}}}}}}}}
    },
    "/api/v1/logout": {
      "post": {"summary": "Ends the browser session of the cookie", "responses": {"200": {"description": "Logged out", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    },
    "/api/v1/openapi.json": {
      "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI 3", "content": {"application/json": {"schema": {"type": "object"}}}}}}
    }
  },
  "components": {
    "securitySchemes": {
      "bearer": {"type": "http", "scheme": "bearer"},
      "session": {"type": "apiKey", "in": "cookie", "name": "taskrt_session"}
    },
    "parameters": {
      "id": {"name": "id", "in": "path", "required": true, "schema": {"type": "integer", "minimum": 1}}
    },
    "responses": {
      "Error": {"description": "An error", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    },
    "schemas": {
      "Error": {"type": "object", "required": ["error", "detail"], "properties": {"error": {"type": "string"}, "detail": {"type": "string"}, "id": {"type": "integer"}}},
      "Id": {"type": "object", "required": ["id"], "properties": {"id": {"type": "integer"}, "existing": {"type": "boolean"}}},
      "Submit": {"type": "object", "required": ["name"], "additionalProperties": false, "properties": {
        "name": {"type": "string"}, "args": {}, "queue": {"type": "string"}, "priority": {"type": "integer", "minimum": -1000000, "maximum": 1000000},
        "lock": {"type": "string"}, "policy": {"oneOf": [{"type": "object"}, {"type": "string"}]}, "run_at": {"type": "string", "format": "date-time"},
        "in": {"type": "number", "minimum": 0}, "time_limit": {"type": "number", "minimum": 0}, "key": {"type": "string"}}},
      "Retry": {"type": "object", "additionalProperties": false, "properties": {"priority": {"type": "integer"}, "queue": {"type": "string"}, "lock": {"type": "string"}, "run_at": {"type": "string", "format": "date-time"}, "in": {"type": "number"}}},
      "Bulk": {"type": "object", "properties": {"ids": {"type": "array", "items": {"type": "integer"}}, "filter": {"type": "object", "description": "state, name, queue, node, lock, error_kind, since, until"}, "dry_run": {"type": "boolean"}, "limit": {"type": "integer", "maximum": 10000}}},
      "BulkResult": {"type": "object", "properties": {"action": {"type": "string"}, "requested": {"type": "integer"}, "dry_run": {"type": "boolean"}, "ids": {"type": "array", "items": {"type": "integer"}}, "ok": {"type": "array", "items": {"type": "object"}}, "failed": {"type": "array", "items": {"type": "object", "properties": {"id": {"type": "integer"}, "error": {"type": "string"}}}}}},
      "TaskPage": {"type": "object", "properties": {"tasks": {"type": "array", "items": {"$ref": "#/components/schemas/TaskSummary"}}, "next_cursor": {"type": "string", "nullable": true}, "more": {"type": "boolean"}}},
      "TaskSummary": {"type": "object", "properties": {"id": {"type": "integer"}, "name": {"type": "string"}, "state": {"type": "string"}, "attempt": {"type": "integer"}, "queue": {"type": "string"}, "priority": {"type": "integer"}, "lock": {"type": "string", "nullable": true}, "node": {"type": "string", "nullable": true}, "run_at": {"type": "string"}, "created_at": {"type": "string"}, "updated_at": {"type": "string"}, "error_kind": {"type": "string", "nullable": true}}}
    }
  }
})json";

} // namespace

const json& openapi_document() {
  static const json doc = [] {
    auto j = json::parse(document);
    j["info"]["x-taskrt-version"] = version();
    return j;
  }();
  return doc;
}

} // namespace taskrt::http
