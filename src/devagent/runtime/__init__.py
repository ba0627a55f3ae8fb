"""How the server's work runs, apart from what it computes: the request's budget (deadline,
answer bytes, cancellation), the lanes that bound costly work, the contract by which a
client's disconnect stops its request, and giving freed memory back to the system.

- `budget`: RequestBudget and QueryAborted, checked by the resolvers of one request;
- `lanes`: Lane, at most N at once (costly queries, test runs), the others turned away;
- `disconnect`: the scope key web.connections fills and cancelled_if_client_leaves reads;
- `memory`: malloc_trim after big answers, the idle trimmer, gc.freeze at start.

Used by api, metrics and web; it uses only bpf (libc).
"""
