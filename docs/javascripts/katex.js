// Render the \( \) and \[ \] spans that pymdownx.arithmatex (generic mode) leaves in the page.
// document$ is Material's page observable: it fires on first load and after instant navigation.
document$.subscribe(({ body }) => {
  renderMathInElement(body, {
    delimiters: [
      { left: "$$", right: "$$", display: true },
      { left: "$", right: "$", display: false },
      { left: "\\(", right: "\\)", display: false },
      { left: "\\[", right: "\\]", display: true },
    ],
  });
});
