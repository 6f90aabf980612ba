"""The request path: parse, route, call upstreams, check answers, relay, account."""
