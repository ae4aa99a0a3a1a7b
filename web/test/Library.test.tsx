import { describe, expect, it } from "vitest";
import { fireEvent, render, screen, waitFor } from "@testing-library/react";
import { Library } from "../src/Library";
import { fakeApi, layout } from "./fake";

describe("Library", () => {
  it("writes the search box's text into the URL, and searches with it", async () => {
    layout(800, 600);
    const calls = fakeApi([
      ["GET /items", () => ({ total: 0, items: [], next_cursor: null })],
      ["GET /roots", () => ({ roots: [] })],
      ["GET /tags", () => ({ tags: [] })],
      ["GET /collections", () => ({ collections: [] })],
    ]);
    history.replaceState(null, "", "/?type=image");
    render(<Library />);
    fireEvent.change(screen.getByRole("searchbox", { name: "Search" }), { target: { value: "beach artist:bach" } });
    await waitFor(() => expect(new URLSearchParams(location.search).get("q")).toBe("beach artist:bach"));
    expect(new URLSearchParams(location.search).get("type")).toBe("image"); // the other filters stay
    await waitFor(() => expect(calls.some((c) => c.path === "/items" && c.params.get("q") === "beach artist:bach")).toBe(true));
    const asked = calls.filter((c) => c.path === "/items").pop()!;
    expect(asked.params.get("type")).toBe("image");
  });

  it("reads the folder filter from the URL into the search's under", async () => {
    layout(800, 600);
    const calls = fakeApi([["GET /items", () => ({ total: 0, items: [], next_cursor: null })]]);
    history.replaceState(null, "", "/?folder=%2Flib%2Fcity");
    render(<Library />);
    await waitFor(() => expect(calls.find((c) => c.path === "/items")?.params.get("under")).toBe("/lib/city"));
  });
});
