/*
 * corpus.c - the agent-traffic generator declared in corpus.h.
 *
 * A record is built in a local buffer: pick its conversation context (from
 * seed and index / CONV_TURNS), its type, a target size, then write the JSON
 * envelope and fill the free text or the lists of the body until the target
 * is reached. Words come from VOCAB with a Zipf-Mandelbrot weight
 * 1/(rank + 2.7); slots in templates ({product}, {order} ...) come from the
 * conversation or from small uniform lists. Everything is integer
 * arithmetic on a splitmix64 stream, so records are identical everywhere.
 */
#include "bench/support/corpus.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Consecutive indexes that form one conversation. */
#define CONV_TURNS 16
/* The work buffer: a record is cut to CORPUS_RECORD_MAX at the end. */
#define WORK_MAX (2 * CORPUS_RECORD_MAX)

#define N_OF(a) (sizeof(a) / sizeof((a)[0]))

/* ---- random numbers ---------------------------------------------------- */

typedef struct rng {
	uint64_t s;
} rng;

static uint64_t mix64(uint64_t z)
{
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnext(rng *r)
{
	r->s += 0x9e3779b97f4a7c15ull;
	return mix64(r->s);
}

/* Uniform in [0, n), n > 0 (the modulo bias is below 2^-40 here). */
static uint64_t rbelow(rng *r, uint64_t n)
{
	return rnext(r) % n;
}

/* Uniform in [lo, hi]. */
static uint64_t rrange(rng *r, uint64_t lo, uint64_t hi)
{
	return lo + rbelow(r, hi - lo + 1);
}

/* 1 with probability pct / 100. */
static int rpct(rng *r, unsigned pct)
{
	return rbelow(r, 100) < pct;
}

static void rng_seed(rng *r, uint64_t seed, uint64_t stream, uint64_t n)
{
	r->s = mix64(seed ^ mix64(stream * 0x2545f4914f6cdd1dull + n));
}

#define PICK(r, list) ((list)[rbelow((r), N_OF(list))])

/* ---- word lists (written for this generator) --------------------------- */
/* clang-format off */

/* Ranked roughly by how often support conversations use them. */
static const char *const VOCAB[] = {
    "the", "to", "I", "you", "and", "a", "is", "it", "for", "my", "your",
    "of", "that", "this", "order", "on", "in", "we", "can", "have", "be",
    "with", "not", "me", "please", "was", "will", "if", "but", "at", "do",
    "help", "so", "are", "our", "an", "just", "get", "refund", "from",
    "thanks", "would", "account", "there", "need", "when", "what", "it's",
    "still", "any", "time", "know", "delivery", "could", "check", "as",
    "package", "email", "payment", "by", "up", "about", "been", "has",
    "should", "now", "here", "also", "or", "no", "which", "did", "see",
    "new", "back", "some", "days", "issue", "number", "after", "sure",
    "then", "item", "again", "today", "yes", "shipping", "because",
    "before", "card", "want", "like", "how", "make", "only", "all", "they",
    "look", "update", "address", "charged", "tracking", "arrived",
    "received", "one", "two", "week", "last", "first", "next", "happy",
    "sorry", "understand", "problem", "replacement", "return", "label",
    "store", "app", "website", "phone", "call", "message", "support",
    "team", "agent", "customer", "ticket", "case", "status", "shipped",
    "delivered", "delayed", "damaged", "missing", "wrong", "size", "color",
    "price", "discount", "code", "coupon", "subscription", "plan", "cancel",
    "renew", "billing", "invoice", "receipt", "bank", "transaction",
    "pending", "approved", "declined", "processed", "confirm", "confirmed",
    "available", "stock", "warehouse", "carrier", "courier", "driver",
    "door", "building", "apartment", "neighbor", "morning", "afternoon",
    "evening", "tomorrow", "yesterday", "Monday", "Friday", "weekend",
    "hours", "minutes", "soon", "quickly", "already", "never", "always",
    "really", "very", "much", "more", "less", "other", "another", "same",
    "different", "right", "left", "box", "inside", "open", "opened",
    "broken", "works", "working", "stopped", "tried", "try", "reset",
    "password", "login", "sign", "code", "verification", "link", "sent",
    "send", "resend", "spam", "folder", "inbox", "notification", "settings",
    "profile", "change", "changed", "name", "photo", "photos", "attached",
    "picture", "screen", "error", "says", "said", "told", "asked", "ask",
    "wait", "waiting", "long", "weeks", "month", "months", "year", "since",
    "until", "while", "between", "without", "within", "during", "through",
    "over", "under", "into", "off", "out", "down", "their", "them", "us",
    "his", "her", "he", "she", "who", "where", "why", "these", "those",
    "were", "had", "does", "doesn't", "don't", "can't", "won't", "I'm",
    "I've", "we'll", "you'll", "that's", "there's", "let", "give", "take",
    "keep", "put", "go", "going", "come", "coming", "came", "find", "found",
    "work", "use", "used", "using", "pay", "paid", "buy", "bought", "ship",
    "deliver", "pick", "pickup", "drop", "locker", "store", "credit",
    "balance", "points", "reward", "member", "membership", "gift", "wrap",
    "fee", "fees", "tax", "total", "amount", "extra", "free", "express",
    "standard", "option", "options", "policy", "warranty", "guarantee",
    "repair", "exchange", "swap", "model", "version", "battery", "charger",
    "cable", "screen", "lid", "strap", "sole", "zipper", "button", "fabric",
    "quality", "fit", "small", "large", "medium", "blue", "black", "white",
    "green", "red", "grey", "great", "good", "bad", "terrible", "fine",
    "okay", "perfect", "exactly", "actually", "probably", "maybe",
    "definitely", "unfortunately", "hopefully", "otherwise", "however",
    "instead", "anyway", "though", "even", "well", "able", "possible",
    "every", "each", "both", "few", "many", "most", "several", "whole",
};

static const char *const FIRST[] = {
    "Maria", "James", "Aiko", "Omar", "Lena", "Tomas", "Priya", "Chen",
    "Fatima", "Lucas", "Sofia", "Noah", "Amara", "Ivan", "Grace", "Mateo",
    "Hana", "Daniel", "Zara", "Elias", "Nora", "Kofi", "Ingrid", "Ravi",
    "Clara", "Yusuf", "Mei", "Oliver", "Leila", "Arjun", "Freya", "Diego",
};
static const char *const LAST[] = {
    "Lopez", "Okafor", "Tanaka", "Haddad", "Novak", "Svensson", "Iyer",
    "Wang", "Mensah", "Costa", "Rossi", "Becker", "Kowalski", "Nguyen",
    "Moreau", "Silva", "Park", "Fischer", "Ahmed", "Jensen", "Dubois",
    "Kaya", "Murphy", "Petrov", "Sato", "Garcia", "Hughes", "Bauer",
};
static const char *const MAILHOST[] = {
    "example.com", "example.net", "mail.example.org", "inbox.example.io",
    "post.example.de", "example.co.uk",
};
static const char *const COMPANY[] = {
    "Northwind Outfitters", "Bluepeak Electronics", "Harbor & Hearth Home",
    "Quillstone Books",     "Vela Mobile",          "Copperleaf Kitchen",
    "Trailmark Sports",     "Lumen Pet Supply",
};
static const char *const PRODUCT[] = {
    "wireless earbuds",  "trail running shoes", "espresso grinder",
    "standing desk",     "rain jacket",         "phone case",
    "smart thermostat",  "cast iron skillet",   "yoga mat",
    "laptop sleeve",     "LED desk lamp",       "water bottle",
    "backpack",          "noise cancelling headphones",
    "electric kettle",   "wool sweater",        "fitness tracker",
    "bluetooth speaker", "chef knife set",      "dog harness",
    "winter boots",      "USB-C charger",       "mechanical keyboard",
    "memory foam pillow",
};
static const char *const COLOR[] = {"black", "white", "navy", "olive",
				    "sand", "charcoal"};
static const char *const CARRIER[] = {"UPS", "FedEx", "DHL", "USPS",
				      "PostNord", "Royal Mail"};
static const char *const CITY[] = {
    "Portland", "Austin", "Denver", "Leeds", "Lyon", "Hamburg", "Malmo",
    "Porto", "Toronto", "Dublin", "Utrecht", "Brno",
};
static const char *const STATUS[] = {"processing", "shipped", "in_transit",
				     "out_for_delivery", "delivered",
				     "returned", "cancelled", "on_hold"};
static const char *const TOOLS[] = {
    "lookup_order",  "search_kb",       "get_customer",
    "issue_refund",  "create_ticket",   "check_inventory",
    "send_email",    "schedule_callback",
};
static const char *const TIER[] = {"standard", "silver", "gold", "platinum"};
static const char *const QUEUE[] = {"billing", "shipping", "returns",
				    "technical", "accounts"};
static const char *const PRIORITY[] = {"low", "normal", "high", "urgent"};
static const char *const ERRCODE[] = {"TIMEOUT", "NOT_FOUND", "RATE_LIMITED",
				      "UPSTREAM_ERROR", "INVALID_ARGUMENT"};
static const char *const WAREHOUSE[] = {"PDX-1", "AUS-2", "DEN-1", "LDS-3",
					"HAM-1", "TOR-2"};
static const char *const MODEL[] = {"support-llm-7b-v3", "support-llm-70b-v2",
				    "router-small-v1"};
static const char *const FINISH[] = {"stop", "stop", "stop", "tool_calls",
				     "length"};

static const char *const USER_T[] = {
    "Hi, I ordered the {product} on {date} and it still has not arrived.",
    "My order {order} says {status} but nothing came.",
    "Can you check where my package is? The tracking number is {tracking}.",
    "I was charged {price} twice for order {order}.",
    "The {product} arrived damaged, the box was crushed.",
    "I want to return the {product}, it does not fit.",
    "How long does a refund usually take?",
    "I never got the verification email at {email}.",
    "Can I change the delivery address to {city}?",
    "Please cancel my subscription before it renews on {date}.",
    "The {product} stopped working after {n} days.",
    "Is the {product} back in stock in {color}?",
    "I used the code {code} but the discount was not applied.",
    "This is the {n}th time I am writing about this.",
    "Thanks, that helps a lot.",
    "Ok, I will wait for the email then.",
    "Can I talk to a human please?",
    "Why was my card declined? I have enough balance.",
    "The driver left it at the wrong door, I think.",
    "My name is {name} and my email is {email}.",
    "Order number is {order}.",
    "I need it before {date}, it is a gift.",
};
static const char *const ASSIST_T[] = {
    "Thanks for reaching out, {name}.",
    "I'm sorry to hear that the {product} arrived damaged.",
    "I checked order {order}: it shipped on {date} with {carrier}, tracking "
    "number {tracking}.",
    "The current status of your order is {status}.",
    "I have issued a refund of {price} to your original payment method.",
    "Refunds usually appear within {n} business days, depending on your "
    "bank.",
    "I've created ticket {ticket} so our {queue} team can follow up.",
    "You will receive a confirmation email at {email} shortly.",
    "Could you confirm the order number and the email address on the "
    "account?",
    "I can see two charges of {price}; one of them is a pending "
    "authorization and will drop off within {n} days.",
    "The {product} is currently out of stock in our {warehouse} warehouse, "
    "but more are expected on {date}.",
    "I've updated the delivery address to {city}.",
    "Here is a prepaid return label; please drop the package at any "
    "{carrier} location within {n} days.",
    "Is there anything else I can help you with today?",
    "I understand how frustrating this must be.",
    "Let me look into that for you.",
    "According to our policy, items can be returned within 30 days of "
    "delivery.",
    "I've applied the code {code} and the new total is {price}.",
    "Your subscription has been cancelled and you will not be charged "
    "again.",
    "A replacement {product} will ship within {n} business days.",
};
static const char *const SYSTEM_T[] = {
    "You are Nova, the customer support assistant for {company}.",
    "Be concise, friendly and precise; never promise what the tools have "
    "not confirmed.",
    "Always verify the customer's identity with the order number and the "
    "email on the account before discussing an order.",
    "Refunds up to 150 USD may be issued without approval; larger amounts "
    "need a ticket for the billing queue.",
    "Use lookup_order before answering questions about an order's status.",
    "If the customer asks for a human, create a ticket with priority high "
    "and tell them the expected wait.",
    "Do not share internal notes, warehouse codes or other customers' data.",
    "Answer in the customer's language; today is {date}.",
    "Escalate any mention of injury, fire or legal action immediately.",
    "Summarise the conversation in one paragraph when it ends.",
};
static const char *const TITLE_T[] = {
    "How to return an item",  "Refund timelines by payment method",
    "Tracking a shipment",    "Changing a delivery address",
    "Damaged or missing items", "Cancelling a subscription",
    "Applying discount codes", "Warranty coverage",
    "Resetting your password", "Gift orders and receipts",
};


/* Phrases: the fragments conversations are made of, also ranked. */
static const char *const PHRASE[] = {
    "I would like to", "as soon as possible", "let me check", "your order",
    "the package", "thank you for", "I'm sorry", "it looks like",
    "I can see that", "on your account", "the tracking number",
    "a few days", "let me know if", "in the meantime", "I have already",
    "could you please", "the email address", "my card was charged",
    "I just checked", "we are unable to", "this is the second time",
    "the delivery date", "it was supposed to", "I still haven't received",
    "according to the carrier", "for the inconvenience", "a full refund",
    "the original payment method", "within 5 to 7 business days",
    "please allow", "on the website", "in the app", "the order number",
    "I placed an order", "last week", "a replacement", "the return label",
    "at the front door", "I was told", "by the end of the week",
    "if that works for you", "is there a way to", "the same issue",
    "I need to change", "the shipping address", "it says delivered",
    "but I never got it", "it is not working", "out of stock",
    "back in stock", "an update on", "as a one-time courtesy",
    "store credit", "I understand your frustration", "I've escalated this",
    "our warehouse team", "the billing team", "you should receive",
    "a confirmation email", "a few minutes", "once it ships",
    "the estimated delivery", "has been delayed", "due to high demand",
    "on our end", "on their end", "I went ahead and", "to make up for it",
    "the discount code", "at checkout", "the subscription", "next month",
    "this morning", "two weeks ago", "the wrong size", "in good condition",
    "the box was", "with the receipt", "in the original packaging",
    "I'd be happy to help", "just to confirm", "can you tell me",
    "what happened to", "how long will it take", "it would be great if",
    "I don't see", "any updates", "as promised", "right away",
    "for your patience", "have a great day", "is anything else",
    "we have received", "the item you returned", "has been processed",
    "the refund amount", "minus the shipping fee", "free of charge",
    "the next available slot", "between 9 and 5", "our records show",
    "the last scan", "at the local facility", "out for delivery",
    "signature required", "left with a neighbor", "in the parcel locker",
};
/* clang-format on */

/* ---- Zipf sampling over VOCAB ------------------------------------------ */

static uint64_t vocab_cum[N_OF(VOCAB)];
static uint64_t phrase_cum[N_OF(PHRASE)];
static pthread_once_t zipf_once = PTHREAD_ONCE_INIT;

/* Weight 1 / (rank + 2.7), in integers: 10^10 / (10 rank + 27). */
static void zipf_table(uint64_t *cum, size_t n)
{
	uint64_t c = 0;

	for (size_t i = 0; i < n; i++) {
		c += 10000000000ull / (10 * i + 27);
		cum[i] = c;
	}
}

static void zipf_init(void)
{
	zipf_table(vocab_cum, N_OF(VOCAB));
	zipf_table(phrase_cum, N_OF(PHRASE));
}

static size_t zipf_pick(rng *r, const uint64_t *cum, size_t n)
{
	uint64_t u = rbelow(r, cum[n - 1]);
	size_t lo = 0, hi = n - 1;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (cum[mid] > u)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

static const char *zipf_word(rng *r)
{
	return VOCAB[zipf_pick(r, vocab_cum, N_OF(VOCAB))];
}

static const char *zipf_phrase(rng *r)
{
	return PHRASE[zipf_pick(r, phrase_cum, N_OF(PHRASE))];
}

/* ---- the work buffer --------------------------------------------------- */

typedef struct wbuf {
	char b[WORK_MAX];
	size_t len;
} wbuf;

static void put(wbuf *w, const char *s)
{
	size_t n = strlen(s);

	if (n > WORK_MAX - w->len)
		n = WORK_MAX - w->len;
	memcpy(w->b + w->len, s, n);
	w->len += n;
}

static void putc_(wbuf *w, char c)
{
	if (w->len < WORK_MAX)
		w->b[w->len++] = c;
}

static void putf(wbuf *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void putf(wbuf *w, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (w->len >= WORK_MAX - 1)
		return;
	va_start(ap, fmt);
	n = vsnprintf(w->b + w->len, WORK_MAX - w->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		w->len += (size_t)n < WORK_MAX - w->len ? (size_t)n
							: WORK_MAX - w->len - 1;
}

static const char B62[] =
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static void put_b62(wbuf *w, rng *r, unsigned n)
{
	while (n--)
		putc_(w, B62[rbelow(r, 62)]);
}

static void put_digits(wbuf *w, rng *r, unsigned n)
{
	while (n--)
		putc_(w, (char)('0' + rbelow(r, 10)));
}

/* ---- conversation context ---------------------------------------------- */

typedef struct conv {
	char id[24]; /* conv_ + 12 base62 */
	char first[16], last[16];
	char email[64];
	char customer[16]; /* cus_ + 8 digits */
	char order[24];	   /* ORD-2026-xxxxxxx */
	char tracking[24];
	char code[16];
	char ticket[16];
	const char *company, *product, *carrier, *city, *status;
	uint64_t t0;	  /* seconds since 2026-01-01T00:00:00Z */
	unsigned price_c; /* a price in cents */
} conv;

static void str_b62(char *dst, const char *prefix, rng *r, unsigned n)
{
	size_t p = strlen(prefix);

	memcpy(dst, prefix, p);
	for (unsigned i = 0; i < n; i++)
		dst[p + i] = B62[rbelow(r, 62)];
	dst[p + n] = '\0';
}

static void str_digits(char *dst, const char *prefix, rng *r, unsigned n)
{
	size_t p = strlen(prefix);

	memcpy(dst, prefix, p);
	for (unsigned i = 0; i < n; i++)
		dst[p + i] = (char)('0' + rbelow(r, 10));
	dst[p + n] = '\0';
}

static void lower(char *dst, const char *src)
{
	for (; *src; src++)
		*dst++ =
		    (*src >= 'A' && *src <= 'Z') ? (char)(*src + 32) : *src;
	*dst = '\0';
}

static void conv_init(conv *c, uint64_t seed, uint64_t n)
{
	rng r;
	char f[16], l[16];

	rng_seed(&r, seed, 1, n);
	str_b62(c->id, "conv_", &r, 12);
	snprintf(c->first, sizeof(c->first), "%s", PICK(&r, FIRST));
	snprintf(c->last, sizeof(c->last), "%s", PICK(&r, LAST));
	lower(f, c->first);
	lower(l, c->last);
	switch (rbelow(&r, 3)) {
	case 0:
		snprintf(c->email, sizeof(c->email), "%s.%s@%s", f, l,
			 PICK(&r, MAILHOST));
		break;
	case 1:
		snprintf(c->email, sizeof(c->email), "%c%s%u@%s", f[0], l,
			 (unsigned)rbelow(&r, 100), PICK(&r, MAILHOST));
		break;
	default:
		snprintf(c->email, sizeof(c->email), "%s_%u@%s", f,
			 (unsigned)rrange(&r, 1960, 2008), PICK(&r, MAILHOST));
	}
	str_digits(c->customer, "cus_", &r, 8);
	str_digits(c->order, "ORD-2026-", &r, 7);
	c->carrier = PICK(&r, CARRIER);
	if (c->carrier[0] == 'U' && c->carrier[1] == 'P')
		str_b62(c->tracking, "1Z", &r, 16);
	else
		str_digits(c->tracking, "", &r, 12);
	str_b62(c->code, "", &r, 8);
	str_digits(c->ticket, "TCK-", &r, 6);
	c->company = PICK(&r, COMPANY);
	c->product = PICK(&r, PRODUCT);
	c->city = PICK(&r, CITY);
	c->status = PICK(&r, STATUS);
	c->t0 = n * 37 + rbelow(&r, 30 * 86400) + 86400 * (n % 300);
	c->price_c = (unsigned)rrange(&r, 499, 39999);
}

/* Civil date from days since 1970-01-01 (Howard Hinnant's algorithm). */
static void civil(int64_t days, int *y, unsigned *m, unsigned *d)
{
	days += 719468;
	int64_t era = (days >= 0 ? days : days - 146096) / 146097;
	unsigned doe = (unsigned)(days - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (int)(yoe + era * 400) + (*m <= 2);
}

#define EPOCH_2026 1767225600ull /* 2026-01-01T00:00:00Z */

static void put_ts(wbuf *w, uint64_t t, unsigned ms)
{
	uint64_t s = EPOCH_2026 + t;
	int y;
	unsigned m, d;

	civil((int64_t)(s / 86400), &y, &m, &d);
	putf(w, "%04d-%02u-%02uT%02u:%02u:%02u.%03uZ", y, m, d,
	     (unsigned)(s % 86400 / 3600), (unsigned)(s % 3600 / 60),
	     (unsigned)(s % 60), ms);
}

static void put_date(wbuf *w, uint64_t t)
{
	int y;
	unsigned m, d;

	civil((int64_t)((EPOCH_2026 + t) / 86400), &y, &m, &d);
	putf(w, "%04d-%02u-%02u", y, m, d);
}

static void put_price(wbuf *w, unsigned cents)
{
	putf(w, "%u.%02u", cents / 100, cents % 100);
}

/* ---- text -------------------------------------------------------------- */

static void put_words(wbuf *w, rng *r, unsigned n, int capital)
{
	for (unsigned i = 0; i < n; i++) {
		const char *s = zipf_word(r);
		if (i)
			putc_(w, i > 3 && rpct(r, 6) ? ',' : ' ');
		if (i && w->b[w->len - 1] == ',')
			putc_(w, ' ');
		if (i == 0 && capital && s[0] >= 'a' && s[0] <= 'z') {
			putc_(w, (char)(s[0] - 32));
			put(w, s + 1);
		} else {
			put(w, s);
		}
	}
}

/* A free sentence: 2 to 6 chunks, each a phrase or 1 to 3 single words,
 * all Zipf-distributed, so that common fragments recur as they do in real
 * conversations while the sequence stays unpredictable. */
static void put_random_sentence(wbuf *w, rng *r)
{
	unsigned chunks = (unsigned)rrange(r, 2, 6);
	size_t start = w->len;

	for (unsigned i = 0; i < chunks; i++) {
		if (i)
			put(w, rpct(r, 10) ? ", " : " ");
		if (rpct(r, 55))
			put(w, zipf_phrase(r));
		else
			put_words(w, r, (unsigned)rrange(r, 1, 3), 0);
	}
	if (w->b[start] >= 'a' && w->b[start] <= 'z')
		w->b[start] = (char)(w->b[start] - 32);
	putc_(w, rpct(r, 15) ? '?' : '.');
}

/* Expand a template: {slot} from the conversation or the stream. */
static void put_template(wbuf *w, rng *r, const conv *c, const char *t)
{
	while (*t) {
		if (*t != '{') {
			putc_(w, *t++);
			continue;
		}
		const char *e = strchr(t, '}');
		size_t n = (size_t)(e - t - 1);
		const char *k = t + 1;
		t = e + 1;
#define SLOT(s) (n == sizeof(s) - 1 && memcmp(k, s, n) == 0)
		if (SLOT("product"))
			put(w, c->product);
		else if (SLOT("order"))
			put(w, c->order);
		else if (SLOT("tracking"))
			put(w, c->tracking);
		else if (SLOT("email"))
			put(w, c->email);
		else if (SLOT("name"))
			put(w, c->first);
		else if (SLOT("company"))
			put(w, c->company);
		else if (SLOT("carrier"))
			put(w, c->carrier);
		else if (SLOT("city"))
			put(w, c->city);
		else if (SLOT("status"))
			put(w, c->status);
		else if (SLOT("code"))
			put(w, c->code);
		else if (SLOT("ticket"))
			put(w, c->ticket);
		else if (SLOT("queue"))
			put(w, PICK(r, QUEUE));
		else if (SLOT("warehouse"))
			put(w, PICK(r, WAREHOUSE));
		else if (SLOT("color"))
			put(w, PICK(r, COLOR));
		else if (SLOT("date"))
			put_date(w, c->t0 + rbelow(r, 40 * 86400));
		else if (SLOT("price")) {
			putc_(w, '$');
			put_price(w, c->price_c);
		} else if (SLOT("n"))
			putf(w, "%u", (unsigned)rrange(r, 2, 14));
		else
			put(w, "?");
#undef SLOT
	}
}

/* Sentences until the text reaches want bytes (at least one sentence):
 * templates with probability tmpl_pct, Zipf sentences otherwise. */
static void put_text(wbuf *w, rng *r, const conv *c, const char *const *tmpl,
		     size_t ntmpl, unsigned tmpl_pct, size_t want)
{
	size_t start = w->len;

	do {
		if (w->len > start)
			put(w, rpct(r, 8) ? "\\n\\n" : " ");
		if (rpct(r, tmpl_pct))
			put_template(w, r, c, tmpl[rbelow(r, ntmpl)]);
		else
			put_random_sentence(w, r);
	} while (w->len - start < want);
}

/* ---- records ----------------------------------------------------------- */

enum { T_SYSTEM, T_USER, T_ASSISTANT, T_CALL, T_RESULT };
static const char *const TYPE_NAME[] = {"system", "user", "assistant",
					"tool_call", "tool_result"};

/* Sizes: a discrete distribution of target lengths (mean near 600 B). */
static size_t pick_target(rng *r)
{
	static const struct {
		unsigned pct, lo, hi;
	} B[] = {
	    {16, 100, 200},  {18, 200, 300},  {19, 300, 450},
	    {16, 450, 650},  {12, 650, 900},  {9, 900, 1300},
	    {6, 1300, 2000}, {3, 2000, 3000}, {1, 3000, 3900},
	};
	unsigned u = (unsigned)rbelow(r, 100);

	for (size_t i = 0; i < N_OF(B); i++) {
		if (u < B[i].pct)
			return rrange(r, B[i].lo, B[i].hi);
		u -= B[i].pct;
	}
	return 400;
}

static unsigned pick_type(rng *r, unsigned turn)
{
	unsigned u = (unsigned)rbelow(r, 100);

	if (turn == 0)
		return u < 70 ? T_SYSTEM : T_USER;
	if (u < 4)
		return T_SYSTEM;
	if (u < 32)
		return T_USER;
	if (u < 60)
		return T_ASSISTANT;
	if (u < 78)
		return T_CALL;
	return T_RESULT;
}

static void put_head(wbuf *w, rng *r, const conv *c, const char *type,
		     const char *role, unsigned turn)
{
	putf(w, "{\"type\":\"%s\",", type);
	if (role)
		putf(w, "\"role\":\"%s\",", role);
	putf(w, "\"conversation_id\":\"%s\",\"turn\":%u,\"ts\":\"", c->id,
	     turn);
	put_ts(w, c->t0 + turn * 23 + rbelow(r, 20), (unsigned)rbelow(r, 1000));
	put(w, "\"");
}

/* The call id of the tool call at turn; a result names the call at the
 * turn before it (as if that one was the call). */
static void put_call_id(wbuf *w, uint64_t seed, uint64_t conv_n, unsigned turn)
{
	rng r;

	rng_seed(&r, seed, 2, conv_n * CONV_TURNS + turn);
	put(w, "\"call_id\":\"call_");
	put_b62(w, &r, 24);
	put(w, "\"");
}

static void put_json_text(wbuf *w, rng *r, const conv *c, const char *key,
			  const char *const *tmpl, size_t n, unsigned pct,
			  size_t want)
{
	putf(w, "\"%s\":\"", key);
	put_text(w, r, c, tmpl, n, pct, want);
	put(w, "\"");
}

static void gen_message(wbuf *w, rng *r, const conv *c, unsigned type,
			unsigned turn, size_t target)
{
	size_t want;

	if (type == T_SYSTEM && rpct(r, 35)) {
		/* A memory summary the agent writes for itself. */
		put_head(w, r, c, "memory", NULL, turn);
		putf(w,
		     ",\"customer_id\":\"%s\",\"summary\":\"Customer %s %s "
		     "(%s) contacted %s about order %s (%s). ",
		     c->customer, c->first, c->last, c->email, c->company,
		     c->order, c->product);
		want = target > w->len + 40 ? target - w->len - 40 : 20;
		put_text(w, r, c, USER_T, N_OF(USER_T), 30, want);
		putf(w, "\",\"open_ticket\":\"%s\"}", c->ticket);
		return;
	}
	put_head(w, r, c, "message", TYPE_NAME[type], turn);
	put(w, ",");
	want = target > w->len + 24 ? target - w->len - 24 : 16;
	if (type == T_SYSTEM)
		put_json_text(w, r, c, "content", SYSTEM_T, N_OF(SYSTEM_T), 85,
			      want);
	else if (type == T_USER)
		put_json_text(w, r, c, "content", USER_T, N_OF(USER_T), 35,
			      want);
	else {
		want = want > 110 ? want - 110 : 16;
		put_json_text(w, r, c, "content", ASSIST_T, N_OF(ASSIST_T), 45,
			      want);
		putf(w,
		     ",\"model\":\"%s\",\"usage\":{\"prompt_tokens\":%u,"
		     "\"completion_tokens\":%u},\"finish_reason\":\"%s\"",
		     PICK(r, MODEL), (unsigned)rrange(r, 400, 12000),
		     (unsigned)(want / 4 + rbelow(r, 20)), PICK(r, FINISH));
	}
	put(w, "}");
}

static void put_str_list(wbuf *w, rng *r, const char *const *list, size_t n,
			 unsigned max)
{
	unsigned k = (unsigned)rrange(r, 1, max);

	putc_(w, '[');
	for (unsigned i = 0; i < k; i++)
		putf(w, "%s\"%s\"", i ? "," : "", list[rbelow(r, n)]);
	putc_(w, ']');
}

static void put_sku(wbuf *w, rng *r)
{
	put(w, "SKU-");
	put_digits(w, r, 5);
}

static void gen_call(wbuf *w, rng *r, uint64_t seed, uint64_t conv_n,
		     const conv *c, unsigned turn, unsigned tool, size_t target)
{
	static const char *const FIELDS[] = {"items", "shipping", "payments",
					     "history", "notes"};

	put_head(w, r, c, "tool_call", NULL, turn);
	put(w, ",");
	put_call_id(w, seed, conv_n, turn);
	putf(w, ",\"tool\":\"%s\",\"arguments\":{", TOOLS[tool]);
	switch (tool) {
	case 0:
		putf(w, "\"order_id\":\"%s\",\"include\":", c->order);
		put_str_list(w, r, FIELDS, N_OF(FIELDS), 4);
		break;
	case 1:
		put(w, "\"query\":\"");
		put_words(w, r, (unsigned)rrange(r, 3, 12), 0);
		putf(w, "\",\"top_k\":%u,\"locale\":\"en-US\"",
		     (unsigned)rrange(r, 3, 8));
		break;
	case 2:
		putf(w, "\"email\":\"%s\",\"fields\":", c->email);
		put_str_list(w, r, FIELDS, N_OF(FIELDS), 3);
		break;
	case 3:
		putf(w, "\"order_id\":\"%s\",\"amount\":{\"value\":\"",
		     c->order);
		put_price(w, c->price_c);
		put(w, "\",\"currency\":\"USD\"},\"reason\":\"");
		put_words(w, r, (unsigned)rrange(r, 3, 10), 0);
		putf(w, "\",\"notify_customer\":%s",
		     rpct(r, 80) ? "true" : "false");
		break;
	case 4:
		putf(w,
		     "\"customer_id\":\"%s\",\"queue\":\"%s\",\"priority\":"
		     "\"%s\",\"subject\":\"",
		     c->customer, PICK(r, QUEUE), PICK(r, PRIORITY));
		put_words(w, r, (unsigned)rrange(r, 4, 9), 1);
		put(w, "\",");
		put_json_text(w, r, c, "description", USER_T, N_OF(USER_T), 40,
			      target > w->len + 40 ? target - w->len - 40 : 40);
		break;
	case 5:
		put(w, "\"sku\":\"");
		put_sku(w, r);
		put(w, "\",\"warehouses\":");
		put_str_list(w, r, WAREHOUSE, N_OF(WAREHOUSE), 4);
		break;
	case 6:
		putf(w,
		     "\"to\":\"%s\",\"template\":\"%s\",\"variables\":{"
		     "\"first_name\":\"%s\",\"order_id\":\"%s\",\"amount\":\"",
		     c->email,
		     rpct(r, 50) ? "refund_confirmation" : "shipping_update",
		     c->first, c->order);
		put_price(w, c->price_c);
		put(w, "\"}");
		break;
	default:
		put(w, "\"phone\":\"+1-555-");
		put_digits(w, r, 3);
		putc_(w, '-');
		put_digits(w, r, 4);
		put(w, "\",\"window\":{\"start\":\"");
		put_ts(w, c->t0 + 86400, 0);
		put(w, "\",\"end\":\"");
		put_ts(w, c->t0 + 86400 + 7200, 0);
		put(w, "\"},");
		put_json_text(w, r, c, "notes", USER_T, N_OF(USER_T), 40,
			      target > w->len + 40 ? target - w->len - 40 : 30);
	}
	put(w, "}}");
}

static void gen_result(wbuf *w, rng *r, uint64_t seed, uint64_t conv_n,
		       const conv *c, unsigned turn, unsigned tool,
		       size_t target)
{
	put_head(w, r, c, "tool_result", NULL, turn);
	put(w, ",");
	put_call_id(w, seed, conv_n, turn > 0 ? turn - 1 : turn);
	putf(w, ",\"tool\":\"%s\",", TOOLS[tool]);
	if (rpct(r, 7)) {
		putf(w,
		     "\"ok\":false,\"latency_ms\":%u,\"error\":{\"code\":"
		     "\"%s\",\"message\":\"",
		     (unsigned)rrange(r, 5, 30000), PICK(r, ERRCODE));
		put_words(w, r, (unsigned)rrange(r, 4, 14), 1);
		put(w, "\"}}");
		return;
	}
	putf(w, "\"ok\":true,\"latency_ms\":%u,\"result\":{",
	     (unsigned)rrange(r, 20, 2500));
	size_t end = target > 40 ? target - 40 : 0;
	switch (tool) {
	case 6:
		putf(w, "\"message_id\":\"msg_");
		put_b62(w, r, 20);
		putf(w, "\",\"queued\":true,\"to\":\"%s\"", c->email);
		break;
	case 3:
		put(w, "\"refund_id\":\"re_");
		put_b62(w, r, 14);
		putf(w, "\",\"status\":\"%s\",\"expected_days\":%u,\"order\":{",
		     rpct(r, 70) ? "pending" : "approved",
		     (unsigned)rrange(r, 2, 10));
		/* fall through */
	case 0:
		putf(w,
		     "\"order_id\":\"%s\",\"status\":\"%s\",\"placed_at\":"
		     "\"",
		     c->order, c->status);
		put_ts(w, c->t0 - rbelow(r, 20 * 86400), 0);
		putf(w,
		     "\",\"customer\":{\"id\":\"%s\",\"email\":\"%s\"},"
		     "\"items\":[",
		     c->customer, c->email);
		for (unsigned i = 0; i == 0 || (w->len < end && i < 20); i++) {
			put(w, i ? ",{\"sku\":\"" : "{\"sku\":\"");
			put_sku(w, r);
			putf(w,
			     "\",\"name\":\"%s\",\"qty\":%u,\"unit_price\":"
			     "\"",
			     i ? PICK(r, PRODUCT) : c->product,
			     (unsigned)rrange(r, 1, 3));
			put_price(w, (unsigned)rrange(r, 199, 29999));
			put(w, "\"}");
		}
		putf(w,
		     "],\"shipping\":{\"carrier\":\"%s\",\"tracking\":\"%s\","
		     "\"eta\":\"",
		     c->carrier, c->tracking);
		put_date(w, c->t0 + rbelow(r, 10 * 86400));
		putf(w, "\",\"address\":{\"city\":\"%s\",\"postal_code\":\"",
		     c->city);
		put_digits(w, r, 5);
		put(w, "\",\"country\":\"US\"}},\"total\":\"");
		put_price(w, c->price_c);
		put(w, tool == 3 ? "\"}" : "\"");
		break;
	case 1:
		put(w, "\"hits\":[");
		for (unsigned i = 0; i == 0 || (w->len < end && i < 12); i++) {
			putf(w,
			     "%s{\"id\":\"kb_%u\",\"title\":\"%s\",\"score\":"
			     "0.%02u,\"snippet\":\"",
			     i ? "," : "", (unsigned)rrange(r, 1000, 9999),
			     PICK(r, TITLE_T), (unsigned)rrange(r, 30, 99));
			put_text(w, r, c, SYSTEM_T, N_OF(SYSTEM_T), 25,
				 rrange(r, 80, 400));
			put(w, "\"}");
		}
		put(w, "]");
		break;
	case 2:
		putf(w,
		     "\"id\":\"%s\",\"name\":\"%s %s\",\"email\":\"%s\","
		     "\"tier\":\"%s\",\"since\":\"",
		     c->customer, c->first, c->last, c->email, PICK(r, TIER));
		put_date(w, c->t0 - rbelow(r, 900 * 86400));
		putf(w, "\",\"orders\":%u,\"lifetime_value\":\"",
		     (unsigned)rrange(r, 1, 80));
		put_price(w, (unsigned)rrange(r, 1000, 900000));
		put(w, "\",\"recent_orders\":[");
		for (unsigned i = 0; i == 0 || (w->len < end && i < 30); i++) {
			putf(w, "%s{\"order_id\":\"ORD-2026-", i ? "," : "");
			put_digits(w, r, 7);
			putf(w, "\",\"status\":\"%s\",\"total\":\"",
			     PICK(r, STATUS));
			put_price(w, (unsigned)rrange(r, 199, 49999));
			put(w, "\"}");
		}
		put(w, "]");
		break;
	case 5:
		put(w, "\"sku\":\"");
		put_sku(w, r);
		put(w, "\",\"levels\":[");
		for (unsigned i = 0; i < N_OF(WAREHOUSE); i++)
			putf(w,
			     "%s{\"warehouse\":\"%s\",\"available\":%u,"
			     "\"reserved\":%u}",
			     i ? "," : "", WAREHOUSE[i],
			     (unsigned)rbelow(r, 500), (unsigned)rbelow(r, 40));
		put(w, "]");
		break;
	default:
		putf(w,
		     "\"ticket_id\":\"%s\",\"queue\":\"%s\",\"assignee\":null,"
		     "\"url\":\"https://support.example.com/t/%s\","
		     "\"created_at\":\"",
		     c->ticket, PICK(r, QUEUE), c->ticket + 4);
		put_ts(w, c->t0 + turn * 23, (unsigned)rbelow(r, 1000));
		put(w, "\"");
	}
	put(w, "}}");
}

/* Everything about record index but the bytes: conversation, turn, type. */
typedef struct plan {
	uint64_t conv_n;
	unsigned turn, type, tool;
	rng r;
} plan;

static void plan_record(plan *p, uint64_t seed, uint64_t index)
{
	rng tr;

	p->conv_n = index / CONV_TURNS;
	p->turn = (unsigned)(index % CONV_TURNS);
	rng_seed(&p->r, seed, 3, index);
	p->type = pick_type(&p->r, p->turn);
	/* A result names the tool of the call one turn before it. */
	rng_seed(&tr, seed, 4,
		 p->conv_n * CONV_TURNS + p->turn -
		     (p->type == T_RESULT && p->turn > 0));
	p->tool = (unsigned)rbelow(&tr, N_OF(TOOLS));
}

const char *corpus_record_type(uint64_t seed, uint64_t index)
{
	plan p;

	plan_record(&p, seed, index);
	return TYPE_NAME[p.type];
}

size_t corpus_record(uint64_t seed, uint64_t index, char *out, size_t cap)
{
	wbuf w;
	conv c;
	plan p;
	size_t target;

	pthread_once(&zipf_once, zipf_init);
	plan_record(&p, seed, index);
	conv_init(&c, seed, p.conv_n);
	target = pick_target(&p.r);
	w.len = 0;
	switch (p.type) {
	case T_CALL:
		gen_call(&w, &p.r, seed, p.conv_n, &c, p.turn, p.tool, target);
		break;
	case T_RESULT:
		gen_result(&w, &p.r, seed, p.conv_n, &c, p.turn, p.tool,
			   target);
		break;
	default:
		gen_message(&w, &p.r, &c, p.type, p.turn, target);
	}
	/* The builders stop near the target; a long template may overshoot
	 * the maximum, and then the record is cut (and is no longer JSON,
	 * which happens to real truncated payloads too). */
	size_t n = w.len < CORPUS_RECORD_MAX ? w.len : CORPUS_RECORD_MAX;
	if (n > cap)
		n = cap;
	memcpy(out, w.b, n);
	return n;
}
