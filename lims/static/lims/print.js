// Kept in a file: the Content Security Policy forbids inline scripts.
document.getElementById("print-labels")?.addEventListener("click", () => window.print());
