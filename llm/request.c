/* request.c - the configuration, the request builder and mn_llm_send: a
 * chat-completions request is one jansson object, serialised compact with
 * sorted keys so that its bytes (and the call's canonical request hash) are
 * the same in every run and in replay. Public API of mnemo.h only. */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mnemo.h"
#include "mnemo_llm.h"

struct mn_llm_request {
	json_t *obj;	  /* every key but "model" when unset */
	json_t *messages; /* borrowed from obj */
	size_t n_messages;
};

/* Serialisation flags: compact, sorted keys, reals printed shortest. */
#define LLM_DUMP_FLAGS (JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15))

/* ---- configuration ------------------------------------------------------ */

static int copy_field(char *dst, size_t cap, const char *src)
{
	size_t n = src ? strlen(src) : 0;
	if (n >= cap)
		return MN_EINVAL;
	memcpy(dst, src ? src : "", n);
	dst[n] = 0;
	return 0;
}

int mn_llm_config_init(mn_llm_config *cfg, const char *url, const char *model)
{
	if (!cfg)
		return MN_EINVAL;
	memset(cfg, 0, sizeof(*cfg));
	cfg->timeout_ms = MN_LLM_TIMEOUT_MS_DEFAULT;
	cfg->max_attempts = MN_LLM_MAX_ATTEMPTS_DEFAULT;
	cfg->backoff_ms = MN_LLM_BACKOFF_MS_DEFAULT;
	cfg->max_response = MN_LLM_MAX_RESPONSE_DEFAULT;
	if (copy_field(cfg->url, sizeof(cfg->url), url) ||
	    copy_field(cfg->model, sizeof(cfg->model), model)) {
		memset(cfg, 0, sizeof(*cfg));
		return MN_EINVAL;
	}
	return 0;
}

static const char *env_or(const char *name, const char *dflt)
{
	const char *v = getenv(name);
	return v && *v ? v : dflt;
}

int mn_llm_config_from_env(mn_runtime *rt, mn_llm_config *out)
{
	if (!rt || !out)
		return MN_EINVAL;
	int rc =
	    mn_llm_config_init(out, env_or("MNEMO_LLM_URL", MN_LLM_URL_DEFAULT),
			       env_or("MNEMO_LLM_MODEL", MN_LLM_MODEL_DEFAULT));
	if (rc)
		return rc;
	const char *key = getenv("MNEMO_LLM_API_KEY");
	if (!key || !*key)
		return 0;
	if (strpbrk(key, "\r\n"))
		return MN_EINVAL;
	size_t n = strlen(key) + sizeof("Bearer ");
	char *value = malloc(n);
	if (!value)
		return MN_ENOMEM;
	snprintf(value, n, "Bearer %s", key);
	rc = mn_credential_set(rt, MN_LLM_CREDENTIAL_DEFAULT, "Authorization",
			       value);
	/* The copy is wiped before it goes back to the allocator. */
	memset(value, 0, n);
	__asm__ __volatile__("" : : "r"(value) : "memory");
	free(value);
	if (rc)
		return rc;
	return copy_field(out->credential, sizeof(out->credential),
			  MN_LLM_CREDENTIAL_DEFAULT);
}

/* ---- building ----------------------------------------------------------- */

int mn_llm_request_new(mn_llm_request **out)
{
	if (!out)
		return MN_EINVAL;
	*out = NULL;
	mn_llm_request *r = calloc(1, sizeof(*r));
	if (!r)
		return MN_ENOMEM;
	r->obj = json_object();
	r->messages = json_array();
	if (!r->obj || !r->messages ||
	    json_object_set(r->obj, "messages", r->messages)) {
		json_decref(r->messages);
		json_decref(r->obj);
		free(r);
		return MN_ENOMEM;
	}
	json_decref(r->messages); /* obj holds it */
	*out = r;
	return 0;
}

void mn_llm_request_free(mn_llm_request *req)
{
	if (!req)
		return;
	json_decref(req->obj);
	free(req);
}

/* Set key of o to v, taking v's reference; NULL v: MN_EINVAL (a jansson
 * constructor refused its input: not UTF-8, or out of memory). */
static int set_new(json_t *o, const char *key, json_t *v)
{
	if (!v)
		return MN_EINVAL;
	return json_object_set_new(o, key, v) ? MN_ENOMEM : 0;
}

int mn_llm_request_model(mn_llm_request *req, const char *model)
{
	if (!req || !model || !*model)
		return MN_EINVAL;
	return set_new(req->obj, "model", json_string(model));
}

/* Append message m (its reference taken). */
static int append_message(mn_llm_request *req, json_t *m)
{
	if (json_array_append_new(req->messages, m))
		return MN_ENOMEM;
	req->n_messages++;
	return 0;
}

/* {"role": role} plus "content" (len bytes, or null for NULL). */
static int new_message(const char *role, const char *content, size_t len,
		       json_t **out)
{
	*out = NULL;
	json_t *m = json_object();
	if (!m)
		return MN_ENOMEM;
	int rc = set_new(m, "role", json_string(role));
	if (!rc)
		rc =
		    set_new(m, "content",
			    content ? json_stringn(content, len) : json_null());
	if (rc) {
		json_decref(m);
		return rc;
	}
	*out = m;
	return 0;
}

int mn_llm_request_message_len(mn_llm_request *req, const char *role,
			       const char *content, size_t len)
{
	if (!req || !role || !*role || (!content && len))
		return MN_EINVAL;
	json_t *m;
	int rc = new_message(role, content ? content : "", len, &m);
	if (rc)
		return rc;
	rc = append_message(req, m);
	if (rc)
		json_decref(m);
	return rc;
}

int mn_llm_request_message(mn_llm_request *req, const char *role,
			   const char *content)
{
	if (!content)
		return MN_EINVAL;
	return mn_llm_request_message_len(req, role, content, strlen(content));
}

/* [{"id":..., "type":"function", "function":{"name":..., "arguments":...}}]
 * of n calls into *out. */
static int tool_calls_json(const mn_llm_tool_call *calls, size_t n,
			   json_t **out)
{
	*out = NULL;
	json_t *a = json_array();
	if (!a)
		return MN_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const mn_llm_tool_call *c = &calls[i];
		json_t *tc = NULL;
		if (c->id && *c->id && c->name && *c->name)
			tc = json_pack("{s:s, s:s, s:{s:s, s:s}}", "id", c->id,
				       "type", "function", "function", "name",
				       c->name, "arguments",
				       c->arguments ? c->arguments : "");
		if (!tc || json_array_append_new(a, tc)) {
			json_decref(a);
			return MN_EINVAL;
		}
	}
	*out = a;
	return 0;
}

int mn_llm_request_assistant_tool_calls(mn_llm_request *req,
					const char *content,
					const mn_llm_tool_call *calls, size_t n)
{
	if (!req || !calls || !n)
		return MN_EINVAL;
	json_t *m, *a;
	int rc = new_message("assistant", content,
			     content ? strlen(content) : 0, &m);
	if (rc)
		return rc;
	rc = tool_calls_json(calls, n, &a);
	if (!rc)
		rc = set_new(m, "tool_calls", a);
	if (!rc)
		rc = append_message(req, m);
	if (rc)
		json_decref(m);
	return rc;
}

int mn_llm_request_tool_result(mn_llm_request *req, const char *tool_call_id,
			       const char *content, size_t len)
{
	if (!req || !tool_call_id || !*tool_call_id || (!content && len))
		return MN_EINVAL;
	json_t *m;
	int rc = new_message("tool", content ? content : "", len, &m);
	if (!rc) {
		rc = set_new(m, "tool_call_id", json_string(tool_call_id));
		if (!rc)
			rc = append_message(req, m);
		if (rc)
			json_decref(m);
	}
	return rc;
}

int mn_llm_request_add_reply(mn_llm_request *req,
			     const struct mn_llm_reply *reply)
{
	if (!req || !reply)
		return MN_EINVAL;
	if (reply->n_tool_calls)
		return mn_llm_request_assistant_tool_calls(req, reply->content,
							   reply->tool_calls,
							   reply->n_tool_calls);
	if (!reply->content)
		return MN_EINVAL;
	return mn_llm_request_message_len(req, "assistant", reply->content,
					  reply->content_len);
}

/* Parse text as JSON (any value) into *out; MN_EINVAL when it is not. */
static int parse_json(const char *text, json_t **out)
{
	json_error_t e;
	*out = text ? json_loads(text, JSON_DECODE_ANY, &e) : NULL;
	return *out ? 0 : MN_EINVAL;
}

int mn_llm_request_tool(mn_llm_request *req, const char *name,
			const char *description, const char *parameters_json)
{
	if (!req || !name || !*name)
		return MN_EINVAL;
	json_t *params;
	if (parameters_json) {
		if (parse_json(parameters_json, &params))
			return MN_EINVAL;
	} else {
		params =
		    json_pack("{s:s, s:{}}", "type", "object", "properties");
	}
	if (!json_is_object(params)) {
		json_decref(params);
		return MN_EINVAL;
	}
	/* O: the tool holds its own reference to params. */
	json_t *tool =
	    json_pack("{s:s, s:{s:s, s:O}}", "type", "function", "function",
		      "name", name, "parameters", params);
	json_decref(params);
	if (!tool)
		return MN_EINVAL;
	int rc = 0;
	if (description)
		rc = set_new(json_object_get(tool, "function"), "description",
			     json_string(description));
	json_t *tools = json_object_get(req->obj, "tools");
	if (!rc && !tools) {
		tools = json_array();
		if (!tools || json_object_set_new(req->obj, "tools", tools))
			rc = MN_ENOMEM;
	}
	if (!rc && json_array_append_new(tools, tool))
		return MN_ENOMEM;
	if (rc)
		json_decref(tool);
	return rc;
}

int mn_llm_request_tool_choice(mn_llm_request *req, mn_llm_tool_choice choice,
			       const char *function)
{
	if (!req || (choice != MN_LLM_TOOL_CHOICE_FUNCTION && function))
		return MN_EINVAL;
	json_t *v;
	switch (choice) {
	case MN_LLM_TOOL_CHOICE_AUTO:
		v = json_string("auto");
		break;
	case MN_LLM_TOOL_CHOICE_NONE:
		v = json_string("none");
		break;
	case MN_LLM_TOOL_CHOICE_REQUIRED:
		v = json_string("required");
		break;
	case MN_LLM_TOOL_CHOICE_FUNCTION:
		if (!function || !*function)
			return MN_EINVAL;
		v = json_pack("{s:s, s:{s:s}}", "type", "function", "function",
			      "name", function);
		break;
	default:
		return MN_EINVAL;
	}
	return set_new(req->obj, "tool_choice", v);
}

int mn_llm_request_temperature(mn_llm_request *req, double temperature)
{
	if (!req || !isfinite(temperature) || temperature < 0 ||
	    temperature > 2)
		return MN_EINVAL;
	return set_new(req->obj, "temperature", json_real(temperature));
}

int mn_llm_request_max_tokens(mn_llm_request *req, uint32_t max_tokens)
{
	if (!req || !max_tokens)
		return MN_EINVAL;
	return set_new(req->obj, "max_tokens", json_integer(max_tokens));
}

int mn_llm_request_stream(mn_llm_request *req, int on)
{
	if (!req)
		return MN_EINVAL;
	if (!on) {
		json_object_del(req->obj, "stream");
		json_object_del(req->obj, "stream_options");
		return 0;
	}
	int rc = set_new(req->obj, "stream", json_true());
	if (!rc)
		rc = set_new(req->obj, "stream_options",
			     json_pack("{s:b}", "include_usage", 1));
	return rc;
}

int mn_llm_request_set(mn_llm_request *req, const char *key,
		       const char *value_json)
{
	static const char *const managed[] = {"model",	"messages",
					      "tools",	"tool_choice",
					      "stream", "stream_options"};
	if (!req || !key || !*key)
		return MN_EINVAL;
	for (size_t i = 0; i < sizeof(managed) / sizeof(managed[0]); i++)
		if (!strcmp(key, managed[i]))
			return MN_EINVAL;
	json_t *v;
	if (parse_json(value_json, &v))
		return MN_EINVAL;
	/* The key itself must be UTF-8 too. */
	json_t *k = json_string(key);
	if (!k) {
		json_decref(v);
		return MN_EINVAL;
	}
	json_decref(k);
	return set_new(req->obj, key, v);
}

size_t mn_llm_request_messages(const mn_llm_request *req)
{
	return req ? req->n_messages : 0;
}

int mn_llm_request_json(const mn_llm_request *req, const mn_llm_config *cfg,
			char **json, size_t *len)
{
	if (json)
		*json = NULL;
	if (len)
		*len = 0;
	if (!req || !json || !req->n_messages)
		return MN_EINVAL;
	json_t *o = req->obj;
	int own = 0;
	if (!json_object_get(o, "model") && cfg && cfg->model[0] &&
	    memchr(cfg->model, 0, sizeof(cfg->model))) {
		/* A shallow copy with the config's model: req stays as it
		 * is. */
		o = json_copy(req->obj);
		if (!o)
			return MN_ENOMEM;
		own = 1;
		json_t *m = json_string(cfg->model);
		if (!m || json_object_set_new(o, "model", m)) {
			json_decref(o);
			return m ? MN_ENOMEM : MN_EINVAL;
		}
	}
	char *s = json_dumps(o, LLM_DUMP_FLAGS);
	if (own)
		json_decref(o);
	if (!s)
		return MN_ENOMEM;
	*json = s;
	if (len)
		*len = strlen(s);
	return 0;
}

int mn_llm_send(mn_ctx *ctx, const mn_llm_config *cfg,
		const mn_llm_request *req, uint32_t reply_type,
		uint64_t *call_id)
{
	if (call_id)
		*call_id = 0;
	if (!ctx || !cfg || !req || !cfg->url[0] ||
	    !memchr(cfg->url, 0, sizeof(cfg->url)) ||
	    !memchr(cfg->credential, 0, sizeof(cfg->credential)))
		return MN_EINVAL;
	char *body;
	size_t len;
	int rc = mn_llm_request_json(req, cfg, &body, &len);
	if (rc)
		return rc;
	const char *headers[] = {"Content-Type: application/json"};
	mn_http_request h = MN_HTTP_REQUEST_INIT;
	h.method = "POST";
	h.url = cfg->url;
	h.headers = headers;
	h.n_headers = 1;
	h.body = body;
	h.body_len = len;
	h.credential = cfg->credential[0] ? cfg->credential : NULL;
	h.timeout_ms = cfg->timeout_ms;
	h.max_attempts = cfg->max_attempts;
	h.backoff_ms = cfg->backoff_ms;
	h.max_response = cfg->max_response;
	h.flags = json_is_true(json_object_get(req->obj, "stream"))
		      ? MN_CALL_STREAM
		      : 0;
	rc = mn_ctx_call_http(ctx, &h, reply_type, call_id);
	free(body);
	return rc;
}
