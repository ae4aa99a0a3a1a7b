import { afterEach } from "vitest";
import { cleanup } from "@testing-library/react";

// jsdom lays nothing out: the grid measures its box through these, and watches it resize.
class NoResize {
  observe() {}
  unobserve() {}
  disconnect() {}
}
(globalThis as { ResizeObserver?: unknown }).ResizeObserver = NoResize;

afterEach(() => {
  cleanup();
  history.replaceState(null, "", "/");
});

// No scrolling in jsdom either: scrollTo sets the offset the way a browser's does.
Element.prototype.scrollTo = function (this: Element, x?: number | ScrollToOptions, y?: number) {
  if (typeof x === "number") {
    this.scrollLeft = x;
    this.scrollTop = y ?? 0;
  }
} as Element["scrollTo"];
