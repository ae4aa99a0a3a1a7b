import { describe, expect, it } from "vitest";
import { render, screen } from "@testing-library/react";
import { Duplicates, byWaste } from "../src/Duplicates";
import { fakeApi } from "./fake";

const group = (hash: string, size: number, copies: number) => ({
  file_hash: hash.repeat(64).slice(0, 64), size, copies, wasted_bytes: size * (copies - 1),
  items: Array.from({ length: copies }, (_, i) => ({ id: size + i, path: `/lib/${hash}${i}.jpg`, media_type: "image", thumbnail: i === 0 ? `/t/${hash}.webp` : null })),
});

describe("Duplicates", () => {
  it("lists the groups by wasted bytes, largest first, each copy linking to its item", async () => {
    fakeApi([["GET /duplicates", () => ({ groups: 3, wasted_bytes: 4500, duplicates: [group("a", 1000, 2), group("b", 1500, 3), group("c", 500, 2)] })]]);
    const { container } = render(<Duplicates />);
    await screen.findByText(/3 groups of identical files, 4.5 KB wasted/);
    const order = [...container.querySelectorAll(".dup")].map((li) => Number(li.getAttribute("data-wasted")));
    expect(order).toEqual([3000, 1000, 500]);
    expect(screen.getByRole("link", { name: "/lib/b1.jpg" }).getAttribute("href")).toBe("/item/1501");
    expect(container.querySelector(".dup img")?.getAttribute("src")).toBe("/api/v1/items/1500/thumbnail?v=b");
  });

  it("byWaste keeps ties in a stable order", () => {
    const sorted = byWaste([group("b", 10, 2), group("a", 10, 2), group("c", 30, 2)]);
    expect(sorted.map((g) => g.file_hash[0])).toEqual(["c", "a", "b"]);
  });
});
