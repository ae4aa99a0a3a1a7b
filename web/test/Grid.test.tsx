import { describe, expect, it } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { Grid } from "../src/Grid";
import { fakeApi, layout } from "./fake";

const item = (id: number) => ({
  id, path: `/lib/n${id}.jpg`, media_type: "image", mime_type: "image/jpeg", size: 10, status: "present",
  created_at: "2024-01-01T00:00:00Z", taken_at: null, width: 8, height: 8, duration_s: null, title: null, artist: null, thumbnail: null,
});

describe("Grid", () => {
  it("draws only the rows in view (and a few around) of 10,000 items", async () => {
    layout(800, 600); // 4 columns of 180 px tiles (188 px rows): 4 rows in view, 3 more below
    const calls = fakeApi([
      ["GET /items", (c) => {
        const from = Number(c.params.get("cursor") ?? 0);
        const limit = Number(c.params.get("limit"));
        const items = Array.from({ length: limit }, (_, i) => item(from + i + 1));
        return { total: 10_000, items, next_cursor: String(from + limit) };
      }],
    ]);
    const { container } = render(<Grid filters={{}} text="" />);
    await screen.findByText("10,000 items");
    const drawn = () => container.querySelectorAll(".tile").length;
    expect(drawn()).toBe(7 * 4);
    expect(container.querySelector(".tile")?.getAttribute("data-id")).toBe("1");
    // The inner box is as tall as all the rows, so the scroll bar is the whole library's.
    expect((container.querySelector(".grid-inner") as HTMLElement).style.height).toBe(`${2500 * 188 + 8}px`);
    expect(calls.filter((c) => c.path === "/items")).toHaveLength(1);

    // Scrolled down 100 rows: those rows are drawn (placeholders while their page loads), not the first.
    const grid = container.querySelector(".grid") as HTMLElement;
    grid.scrollTop = 100 * 188;
    fireEvent.scroll(grid);
    await waitFor(() => expect(container.querySelector(".tile")?.getAttribute("data-index") ?? "").not.toBe("0"));
    const indexes = [...container.querySelectorAll(".tile[data-index]")].map((t) => Number(t.getAttribute("data-index")));
    expect(Math.min(...indexes)).toBe((100 - 3) * 4);
    expect(drawn()).toBeLessThanOrEqual((4 + 2 * 3 + 1) * 4);
  });
});
