"""The report's sample browser: the samples as JSON inside the page and plain JavaScript to filter them.

Filters: metrics file, model, bench, judge, set (attack rows count for ASR, benign ones for over-refusal),
category, attack, verdict and a text search. The filters live in the URL fragment
(``#samples?file=2&set=attack&category=drugs``), so every table cell links to its samples and a filtered
view can be bookmarked. No network, no library: the page works offline.
"""

from __future__ import annotations

import orjson

from .samples import SampleSet

__all__ = ["BROWSER_CSS", "browser_html", "embedded_json"]

BROWSER_CSS = """#samples .filters{display:flex;flex-wrap:wrap;gap:8px 14px;margin:8px 0}
#samples label{display:flex;flex-direction:column;gap:2px;color:#555;font-size:12px}
#samples select,#samples input{font-size:14px;padding:2px 4px;max-width:260px}
#sample-count{font-weight:600;margin:6px 0;display:block}
.sample{border:1px solid #ccc;border-radius:4px;margin:6px 0;padding:6px 10px;background:#fff}
.shead{font-size:13px;color:#444;margin-bottom:4px}.shead b{color:#111}
.sbody{display:flex;gap:12px;align-items:flex-start}
.stext{flex:1;min-width:0;display:grid;grid-template-columns:max-content 1fr;gap:3px 10px;align-items:baseline}
.sbody img{max-width:192px;border:1px solid #ddd;margin:0;cursor:zoom-in}.sbody img.big{width:384px;max-width:100%;cursor:zoom-out}
.noimg{font-size:12px;color:#777;max-width:192px;word-break:break-all}
.lbl{font-size:12px;color:#666}
.stext pre{white-space:pre-wrap;word-break:break-word;margin:0;font-size:13px;background:#f7f7f7;
padding:2px 6px;border-radius:3px}
.verdict{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;font-weight:600;color:#fff;
background:#777}.v-complied{background:#c0392b}.v-refused{background:#2e7d32}.v-unjudged{background:#8d6e00}
#sample-more{margin:8px 0;font-size:14px}td a{color:#0645ad;white-space:nowrap}"""

_FILTERS = (("file", "metrics file"), ("model", "model"), ("bench", "bench"), ("judge", "judge"),
            ("set", "set"), ("category", "category"), ("attack", "attack"), ("verdict", "verdict"))

_JS = r"""(function(){
var D=JSON.parse(document.getElementById('unmask-samples').textContent);
var KEYS=['file','model','bench','judge','set','category','attack','verdict'],PAGE=50,shown=PAGE;
function val(r,k){var f=D.files[r.f];switch(k){case 'file':return String(r.f);case 'model':return f.model;
case 'bench':return f.bench;case 'judge':return f.judge;case 'set':return r.set;case 'category':return r.cat;
case 'attack':return r.atk;case 'verdict':return r.v;}return '';}
var sel={};KEYS.forEach(function(k){sel[k]=document.getElementById('f-'+k);});
var text=document.getElementById('f-text'),list=document.getElementById('sample-list'),
count=document.getElementById('sample-count'),more=document.getElementById('sample-more');
function option(s,v,label){var o=document.createElement('option');o.value=v;o.textContent=label;s.appendChild(o);}
KEYS.forEach(function(k){var seen={},vals=[];D.rows.forEach(function(r){var v=val(r,k);
if(!seen[v]){seen[v]=1;vals.push(v);}});if(k==='file'){D.files.forEach(function(f,i){option(sel[k],String(i),f.name);});}
else{vals.sort().forEach(function(v){option(sel[k],v,v===''?'(none)':v);});}});
function state(){var p=[];KEYS.forEach(function(k){if(sel[k].value!=='*')p.push(k+'='+encodeURIComponent(sel[k].value));});
if(text.value)p.push('text='+encodeURIComponent(text.value));return '#samples?'+p.join('&');}
function match(r){for(var i=0;i<KEYS.length;i++){var k=KEYS[i];if(sel[k].value!=='*'&&val(r,k)!==sel[k].value)return false;}
var t=text.value.toLowerCase();return !t||[r.q,r.a,r.why,r.id].some(function(s){return s&&s.toLowerCase().indexOf(t)>=0;});}
function el(tag,cls,txt){var e=document.createElement(tag);if(cls)e.className=cls;if(txt!==undefined)e.textContent=txt;return e;}
function card(r){var f=D.files[r.f],c=el('div','sample'),h=el('div','shead'),b=el('div','sbody'),t=el('div','stext');
h.appendChild(el('span','verdict v-'+r.v,r.v));h.appendChild(document.createTextNode(' '));h.appendChild(el('b','',f.model));
h.appendChild(document.createTextNode(' \u00b7 '+[f.bench,'id '+r.id,'category '+r.cat,'attack '+r.atk,'judge '+f.judge]
.filter(function(s){return s;}).join(' \u00b7 ')));
if(r.img){var im=el('img');im.src=D.images[r.img];im.alt='image of sample '+r.id;
im.onclick=function(){im.classList.toggle('big');};b.appendChild(im);}
else if(r.path){b.appendChild(el('div','noimg','image '+r.path+' (not embedded)'));}
[['prompt',r.q],['answer',r.a===null?'(answer not found)':r.a],['judge\'s reason',r.why]].forEach(function(x){
if(x[1]===''&&x[0]!=='answer')return;t.appendChild(el('div','lbl',x[0]));t.appendChild(el('pre','',x[1]));});
b.appendChild(t);c.appendChild(h);c.appendChild(b);return c;}
function render(){var rows=D.rows.filter(match);count.textContent=rows.length+' of '+D.rows.length+' samples';
count.setAttribute('data-n',rows.length);list.textContent='';rows.slice(0,shown).forEach(function(r){list.appendChild(card(r));});
more.style.display=rows.length>shown?'':'none';more.textContent='show '+Math.min(PAGE,rows.length-shown)+' more';}
function changed(){shown=PAGE;history.replaceState(null,'',state());render();}
KEYS.forEach(function(k){sel[k].onchange=changed;});text.oninput=changed;
more.onclick=function(){shown+=PAGE;render();};
function fromHash(){var h=location.hash;if(h.indexOf('#samples')!==0)return false;var q={};
(h.split('?')[1]||'').split('&').forEach(function(kv){if(!kv)return;var i=kv.indexOf('=');
q[decodeURIComponent(kv.slice(0,i))]=decodeURIComponent(kv.slice(i+1));});
KEYS.forEach(function(k){var v=q.hasOwnProperty(k)?q[k]:'*';
if(![].some.call(sel[k].options,function(o){return o.value===v;}))option(sel[k],v,v);sel[k].value=v;});
text.value=q.text||'';shown=PAGE;render();return true;}
window.addEventListener('hashchange',function(){if(fromHash())document.getElementById('samples').scrollIntoView();});
if(fromHash())document.getElementById('samples').scrollIntoView();else render();
})();"""


def embedded_json(samples: SampleSet) -> str:
    """The samples as JSON safe inside ``<script type="application/json">`` (no ``<`` left to end it)."""
    return orjson.dumps(samples.to_json()).replace(b"<", b"\\u003c").decode()


def browser_html(samples: SampleSet) -> list[str]:
    """The ``Samples`` section: filters, count, list, the data and the script."""
    parts = ["<section id=samples><h2>Samples</h2>",
             "<p class=note>Every sample behind the numbers: each rate in the tables above links here with its "
             "filters set. Click an image to enlarge it.</p>" if samples.rows else
             "<p class=note>No samples found behind the metrics files (see the notes below).</p>",
             "<div class=filters>"]
    for key, label in _FILTERS:
        parts.append(f"<label>{label}<select id=f-{key}><option value=\"*\">all</option></select></label>")
    parts.append("<label>text<input id=f-text type=search placeholder=\"prompt, answer, reason, id\"></label></div>")
    parts.append("<span id=sample-count></span><div id=sample-list></div><button id=sample-more>more</button>")
    parts.append(f"<script type=\"application/json\" id=unmask-samples>{embedded_json(samples)}</script>")
    parts.append(f"<script>{_JS}</script></section>")
    return parts
