// Click a header of a table.sortable to sort its rows by that column, again to reverse. A
// cell's data-v holds the raw number (a "3.627 G" cell sorts by 3627000000).
document.querySelectorAll('table.sortable').forEach(table => {
  table.querySelectorAll('th').forEach((th, col) => {
    th.addEventListener('click', () => {
      const body = table.tBodies[0], rows = Array.from(body.rows);
      const asc = th.dataset.asc !== 'true';
      th.dataset.asc = asc;
      const key = r => {
        const t = r.cells[col].dataset.v ?? r.cells[col].textContent;
        const n = parseFloat(t);
        return isNaN(n) ? t : n;
      };
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        return (x > y ? 1 : x < y ? -1 : 0) * (asc ? 1 : -1);
      });
      rows.forEach(r => body.appendChild(r));
    });
  });
});
