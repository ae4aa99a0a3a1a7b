import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { loadNotify, NotifyPanels } from "../src/Notify";
import { fakeApi } from "./fake";

const target = {
  name: "jellyfin", kind: "jellyfin", state: "retrying", last_success: null, last_error: "connection refused", last_error_at: Date.now() / 1000 - 5,
  last_skipped: "/elsewhere/a.mkv: outside every path_map", confirmation: "", requests: { ok: 3, retry: 2 }, cursor: 10, head: 14, lag: 4, pending_folders: 1,
};
const plugin = { name: "example", hooks: ["on_event"], state: "ok", calls: 12, errors: 1, timeouts: 0, restarts: 1, last_error: "ValueError: boom", cursor: 14, lag: 0 };

describe("NotifyPanels", () => {
  it("shows each target's and plugin's health", async () => {
    fakeApi([
      ["GET /targets", () => ({ targets: [target] })],
      ["GET /plugins", () => ({ plugins: [plugin] })],
    ]);
    render(<NotifyPanels notify={await loadNotify()} />);
    const t = screen.getByRole("region", { name: "Notify targets" });
    expect(t.querySelector(".pill")?.textContent).toBe("retrying");
    expect(t.textContent).toContain("last success never · 4 events behind · 1 folders waiting · requests ok 3, retry 2");
    expect(t.textContent).toContain("5 s ago: connection refused");
    expect(t.textContent).toContain("not sent: /elsewhere/a.mkv: outside every path_map");
    const p = screen.getByRole("region", { name: "Plugins" });
    expect(p.textContent).toContain("12 calls · 1 errors · 0 timeouts · 1 restarts");
    expect(p.textContent).toContain("ValueError: boom");
  });

  it("draws nothing when none is configured, or the daemon has no such endpoints", async () => {
    fakeApi([["GET /targets", () => ({ targets: [] })]]); // /plugins: 404
    const { container } = render(<NotifyPanels notify={await loadNotify()} />);
    expect(container.innerHTML).toBe("");
  });
});
