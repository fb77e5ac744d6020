"""The workspace page's stylesheet, inline in every page (no file to fetch, works offline)."""

CSS = """
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;color:#1d1c1d}
header{display:flex;align-items:center;gap:16px;padding:8px 16px;background:#350d36;color:#fff}
header h1{font-size:15px;margin:0 8px 0 0}
header nav a{color:#e8d8e8;margin-right:12px;text-decoration:none}
header nav a.active{color:#fff;font-weight:700;border-bottom:2px solid #fff}
.clock{margin-left:auto;display:flex;align-items:center;gap:8px}
.clock form{margin:0}
.clock .waiting{color:#e8d8e8;font-size:12px}
main{display:flex;min-height:calc(100vh - 44px)}
aside{width:250px;flex:none;background:#3f0e40;color:#cfc3cf;padding:12px 0}
aside h2{font-size:12px;text-transform:uppercase;letter-spacing:.05em;margin:14px 16px 4px;
  color:#bcabbc}
aside a{display:flex;justify-content:space-between;padding:3px 16px;color:#cfc3cf;text-decoration:none}
aside a.active{background:#1164a3;color:#fff}
aside a .count{font-size:12px}
.lanes{margin:16px;padding:8px;border:1px dashed #8d6f8d;border-radius:6px;font-size:12px}
.lanes h2{margin:0 0 4px}
.lanes p{margin:6px 0}
.lanes input[type=file]{width:100%;margin:4px 0;color:#fff}
.lanes.dragging{border:2px solid #fff;background:#5a2a5b}
.lanes .limits{color:#bcabbc}
#forward-problem{color:#ffb3c1}
.forwarded{border-left:4px solid #2eb67d;background:#eef8f3;padding:8px 12px;margin-bottom:12px;
  border-radius:4px}
.forwarded.problem{border-left-color:#b00020;background:#fdecee;color:#7a0016}
section.pane{flex:1;padding:16px 24px;overflow:auto}
section.pane h2{margin-top:0}
.message{display:flex;gap:10px;padding:8px;border-radius:6px;margin-bottom:6px}
.message.new{background:#fff8e5}
.avatar{width:36px;height:36px;border-radius:6px;background:#2eb67d;color:#fff;font-weight:700;
  display:flex;align-items:center;justify-content:center;flex:none}
.who{font-weight:700}
.when{color:#616061;font-size:12px;margin-left:6px}
.badge{background:#e01e5a;color:#fff;border-radius:8px;font-size:11px;padding:0 6px;margin-left:6px}
.block{margin:4px 0}
.context{color:#616061;font-size:12px}
.actions{display:flex;gap:8px}
.actions form{margin:0}
.btn{display:inline-block;padding:4px 12px;border:1px solid #bbb;border-radius:4px;background:#fff;
  font:inherit;font-weight:600;color:#1d1c1d;cursor:pointer;text-decoration:none}
.btn-primary{background:#007a5a;border-color:#007a5a;color:#fff}
.btn-danger{background:#e01e5a;border-color:#e01e5a;color:#fff}
.mention{background:#e8f5fa;color:#1264a3;border-radius:3px;padding:0 2px}
.happened{margin-top:24px;border-top:1px solid #ddd;padding-top:8px;font-size:13px;color:#444}
.happened li.problem{color:#b00020}
.overlay{position:fixed;inset:0;background:rgba(0,0,0,.45);display:flex;align-items:flex-start;
  justify-content:center;padding-top:8vh}
.modal{background:#fff;border-radius:8px;padding:20px 24px;width:440px;
  box-shadow:0 8px 30px rgba(0,0,0,.3)}
.modal-title{margin:0 0 12px;font-size:18px}
.field{margin:12px 0}
.field label{display:block;font-weight:700;margin-bottom:4px}
.field input,.field textarea,.field select{width:100%;padding:6px;font:inherit;
  border:1px solid #aaa;border-radius:4px}
.field.has-error input,.field.has-error textarea{border-color:#b00020}
.hint{color:#616061;font-size:12px;margin:4px 0}
.field-error{color:#b00020;font-size:13px;margin:4px 0}
.optional{font-weight:400;color:#777}
.modal-buttons{display:flex;justify-content:flex-end;gap:8px;margin-top:16px}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f4f4f4}
tr.changed td{background:#fff8e5}
tr.changed td.changed{background:#ffe08a;font-weight:700}
.wide{overflow-x:auto}
#sheet td{max-width:220px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.note{color:#616061}
.email{border:1px solid #ddd;border-radius:6px;padding:10px 14px;margin-bottom:12px}
.email pre{white-space:pre-wrap;font:inherit;margin:8px 0 0}
"""
