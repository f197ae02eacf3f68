"""The market explorer: a web page that shows the market as L1 (and, where given, the
coordinator's audit log) tells it, and follows the chain as it moves.

- `history`: the contracts' events, read incrementally from L1 and folded in L1 order.
- `data`: what the explorer reads from L1 besides events (roller state, pools, each task's
  public draw inputs), cached where final, and the JSON every page is built from.
- `pages`: that JSON, as pure functions of what was read (the draw check recomputes each round
  with `coordinator.audit`, as `provernet audit assignments` does).
- `server`: the HTTP server (Starlette on Hypercorn's trio worker), its JSON API, the page's
  static files and the live updates (Server-Sent Events).
"""
