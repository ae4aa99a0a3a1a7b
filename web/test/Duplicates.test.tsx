import { describe, expect, it } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { Duplicates, byWaste } from "../src/Duplicates";
import { fakeApi } from "./fake";

const group = (hash: string, size: number, copies: number, tier = "exact") => ({
  id: `${tier}:${hash.repeat(16)}`, tier, file_hash: hash.repeat(64).slice(0, 64), size, copies, wasted_bytes: size * (copies - 1),
  keep: size + 1, keep_reason: "the highest resolution",
  items: Array.from({ length: copies }, (_, i) => ({ id: size + i, path: `/lib/${hash}${i}.jpg`, media_type: "image", thumbnail: i === 0 ? `/t/${hash}.webp` : null })),
});

const reply = (groups: ReturnType<typeof group>[]) => ({
  groups: groups.length,
  tiers: { exact: groups.filter((g) => g.tier === "exact").length, "same-content": groups.filter((g) => g.tier === "same-content").length, near: groups.filter((g) => g.tier === "near").length },
  wasted_bytes: groups.reduce((n, g) => n + g.wasted_bytes, 0),
  duplicates: groups,
});

describe("Duplicates", () => {
  it("lists the groups tier by tier, most wasted bytes first, with the copy to keep and why", async () => {
    fakeApi([["GET /duplicates", () => reply([group("n", 9000, 2, "near"), group("a", 1000, 2), group("b", 1500, 3), group("c", 500, 2, "same-content")])]]);
    const { container } = render(<Duplicates />);
    await screen.findByText(/4 groups of copies, 13.5 KB wasted/);
    const order = [...container.querySelectorAll(".dup")].map((li) => [li.getAttribute("data-tier"), Number(li.getAttribute("data-wasted"))]);
    expect(order).toEqual([["exact", 3000], ["exact", 1000], ["same-content", 500], ["near", 9000]]);
    expect(screen.getByRole("link", { name: "/lib/b1.jpg" }).getAttribute("href")).toBe("/item/1501");
    expect(container.querySelector(".dup img")?.getAttribute("src")).toBe("/api/v1/items/1500/thumbnail?v=b");
    const near = container.querySelector(".dup[data-tier=near]")!;
    expect(near.querySelector(".tier")?.textContent).toBe("Near");
    expect(near.querySelector(".keep-why")?.textContent).toBe("Keep n1.jpg: the highest resolution");
    expect(screen.getByRole("button", { name: "Near (1)" })).toBeTruthy();
    expect(screen.queryByRole("button", { name: /^Merge/ })).toBeNull(); // not an admin
  });

  it("asks for one tier when its button is pressed", async () => {
    const calls = fakeApi([["GET /duplicates", (c) => reply(c.params.get("tier") === "near" ? [group("n", 9000, 2, "near")] : [group("a", 1000, 2), group("n", 9000, 2, "near")])]]);
    const { container } = render(<Duplicates />);
    fireEvent.click(await screen.findByRole("button", { name: "Near (1)" }));
    await waitFor(() => expect(container.querySelectorAll(".dup")).toHaveLength(1));
    expect(new URLSearchParams(location.search).get("tier")).toBe("near");
    expect(calls.filter((c) => c.path === "/duplicates").pop()!.params.get("tier")).toBe("near");
    expect(screen.getByRole("button", { name: "Near (1)" }).getAttribute("aria-pressed")).toBe("true");
  });

  it("merges a group into the copy an admin picks", async () => {
    const calls = fakeApi([
      ["GET /duplicates", () => reply([group("b", 1500, 3)])],
      ["POST /duplicates/merge", (c) => ({ group: (c.body as { group: string }).group, kept: 1502, others: [1500, 1501], tags: 2, collections: 1 })],
    ]);
    render(<Duplicates admin />);
    const suggested = (await screen.findByRole("radio", { name: "Keep /lib/b1.jpg" })) as HTMLInputElement;
    expect(suggested.checked).toBe(true); // the daemon's suggestion
    fireEvent.click(screen.getByRole("radio", { name: "Keep /lib/b2.jpg" }));
    fireEvent.click(screen.getByRole("button", { name: /^Merge the other copies' tags and collections into \/lib\/b2.jpg/ }));
    await screen.findByText("Merged into /lib/b2.jpg: 2 tags and 1 collection moved from 2 other copies");
    expect(calls.find((c) => c.path === "/duplicates/merge")).toMatchObject({ method: "POST", body: { group: "exact:bbbbbbbbbbbbbbbb", keep: 1502 } });
  });

  it("byWaste keeps ties in a stable order", () => {
    const sorted = byWaste([group("b", 10, 2), group("a", 10, 2), group("c", 30, 2)]);
    expect(sorted.map((g) => g.file_hash[0])).toEqual(["c", "a", "b"]);
  });
});
